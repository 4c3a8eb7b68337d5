// The page as a visitor meets it (a benchmark: it prints figures, it asserts nothing).
//  1. What `dist/` weighs: each file raw, and as the `.br` / `.gz` twins the build wrote (or, where
//     there are none, as brotli and gzip would make them).
//  2. Time to the first screen (the form) and to "ready" (the worker compiled, the adapter known),
//     over a slow link from a static server that sends the precompressed twins and gzips the rest:
//     a first visit (empty cache) and a second one (same browser profile).
//  3. The page's Benchmark (training steps/s of the tiny test model on MRPC, on WebGPU), `--runs`
//     times in fresh pages; how a build profile changes speed is read from this.
//
//   node tests/browser/load.mjs [--dist DIR] [--mbit 20] [--latency 40] [--visits 1]
//                               [--bench-steps 10] [--bench-warmup 2] [--runs 3] [--json FILE]
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { inside, link, sendBody, serveFile } from './serve.mjs';
import { marks } from './marks.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const defaults = {
  dist: path.join(root, 'dist'),
  model: path.join(root, 'tests/fixtures/tiny-bert'),
  data: path.resolve(root, '../shared/data/glue/MRPC'),
  mbit: '20',
  latency: '40',
  visits: '1',
  'bench-steps': '10',
  'bench-warmup': '2',
  'bench-batch': '8',
  runs: '3',
  json: '',
  out: path.join(process.env.WEBTUNE_CACHE || path.join(os.homedir(), '.cache/webtune'), 'load-bench'),
};
const opt = { ...defaults };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in defaults)) throw new Error(`unknown option ${process.argv[i]}`);
  opt[key] = process.argv[i + 1];
}
opt.dist = path.resolve(opt.dist);
fs.mkdirSync(opt.out, { recursive: true });
const result = { dist: opt.dist, files: {}, link: { mbit: Number(opt.mbit), latency_ms: Number(opt.latency) } };

// ---- 1. bytes ----------------------------------------------------------------------------------
const mb = (n) => (n / 1e6).toFixed(2);
const shipped = fs.readdirSync(opt.dist).filter((f) => !/\.(br|gz)$/.test(f) && fs.statSync(path.join(opt.dist, f)).isFile());
const total = { raw: 0, br: 0, gz: 0 };
console.log(`${'file'.padEnd(44)} ${'raw MB'.padStart(8)} ${'br MB'.padStart(8)} ${'gz MB'.padStart(8)}`);
for (const f of shipped.sort()) {
  const file = path.join(opt.dist, f);
  const raw = fs.readFileSync(file);
  const twin = (ext, make) => (fs.existsSync(`${file}.${ext}`) ? fs.statSync(`${file}.${ext}`).size : make(raw).length);
  const br = twin('br', (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
  const gz = twin('gz', (b) => zlib.gzipSync(b, { level: 9 }));
  result.files[f] = { raw: raw.length, br, gz };
  total.raw += raw.length; total.br += br; total.gz += gz;
  console.log(`${f.padEnd(44)} ${mb(raw.length).padStart(8)} ${mb(br).padStart(8)} ${mb(gz).padStart(8)}`);
}
result.total = total;
console.log(`${'all of dist/'.padEnd(44)} ${mb(total.raw).padStart(8)} ${mb(total.br).padStart(8)} ${mb(total.gz).padStart(8)}`);

// ---- the server --------------------------------------------------------------------------------
let throttle = null;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const p = url.pathname;
  if (p === '/data/MRPC/train.tsv' || p === '/data/MRPC/dev.tsv') {
    const rows = p.endsWith('train.tsv') ? 400 : 16;
    const lines = fs.readFileSync(path.join(opt.data, path.basename(p)), 'utf8').split('\n').slice(0, rows + 1);
    sendBody(req, res, Buffer.from(lines.join('\n') + '\n'), 'text/plain', { throttle });
    return;
  }
  const [base, dir] = p.startsWith('/model/') ? ['/model/', opt.model] : ['/', opt.dist];
  const file = inside(dir, p.slice(base.length));
  if (!file) { res.writeHead(404); res.end(); return; }
  serveFile(req, res, file, { throttle });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const flags = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'];

// ---- 2. the first screen and "ready", over the slow link ---------------------------------------
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: flags });
result.visits = [];
for (let v = 0; v < Number(opt.visits); v++) {
  const context = await browser.newContext({ viewport: { width: 900, height: 1400 } });
  await context.addInitScript(marks);
  for (const visit of ['first', 'second']) {
    throttle = link(Number(opt.mbit), Number(opt.latency));
    const page = await context.newPage();
    await page.goto(origin + '/');
    await page.waitForFunction(() => window.__webtune_marks?.ready_ms !== undefined, null, { timeout: 300_000, polling: 200 });
    const m = await page.evaluate(() => window.__webtune_marks);
    result.visits.push({ visit, ...m });
    console.log(`${visit} visit over ${opt.mbit} Mbit/s, ${opt.latency} ms: first screen ${(m.first_screen_ms / 1000).toFixed(2)} s, `
      + `${m.state} ${(m.ready_ms / 1000).toFixed(2)} s`);
    await page.close();
  }
  await context.close();
}
throttle = null;

// ---- 3. the page's Benchmark -------------------------------------------------------------------
result.bench = [];
const steps = Number(opt['bench-steps']);
for (let r = 0; steps > 0 && r < Number(opt.runs); r++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const query = new URLSearchParams({ model: '/model', data: '/data/MRPC', task: 'mrpc', batch: opt['bench-batch'],
    bench: '1', bench_steps: String(steps), bench_warmup: opt['bench-warmup'] });
  await page.goto(`${origin}/?${query}`);
  await page.waitForSelector('[data-testid=bench-result], [data-testid=error]', { timeout: 600_000 });
  const report = await page.getAttribute('[data-testid=bench-result]', 'data-report').catch(() => null);
  if (!report) throw new Error(`the Benchmark failed: ${await page.textContent('[data-testid=error]')}`);
  const b = JSON.parse(report);
  result.bench.push(b);
  console.log(`Benchmark run ${r + 1}: ${b.samples_per_s.toFixed(2)} samples/s, ${(1000 / b.ms_per_step).toFixed(3)} steps/s `
    + `(forward ${b.ms_forward.toFixed(0)} ms, backward ${b.ms_backward.toFixed(0)}, optimizer ${b.ms_optimizer.toFixed(0)})`);
  await context.close();
}
if (result.bench.length) {
  const s = result.bench.map((b) => 1000 / b.ms_per_step);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const sd = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, s.length - 1));
  result.bench_steps_per_s = { mean, sd, runs: s };
  console.log(`Benchmark: ${mean.toFixed(3)} ± ${sd.toFixed(3)} steps/s over ${s.length} runs`);
}
await browser.close();
server.close();
if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(result, null, 2));
