// End-to-end test of the page in Debian's headless Chromium, WebGPU on its SwiftShader adapter.
// Serves dist/, a model folder and a slice of MRPC from localhost, then drives the page through a
// shared link: it trains, pauses and resumes, evaluates, classifies, exports; the exported model
// must load in the CLI and give the same probabilities. A run reloaded mid-way resumes from its
// checkpoint in the browser's storage and ends as the uninterrupted run did. A real BERT
// (all-MiniLM-L6-v2) computes transformers' numbers in the page (`check=`) and trains two steps as
// native wgpu does. Also: bad inputs and a browser without WebGPU get messages, not a dead tab;
// faults (a broken connection, full storage, two tabs, hostile files, a lost GPU, the GPU out of
// memory) are provoked for real and survived. LoRA from a link trains, resumes after a reload, and
// its adapter and merged model give the page's probabilities in the CLI. The page's Benchmark measures training speed
// (with --compare-native 1, `webtune bench` on native wgpu the same batches, for the ratio).
// Screenshots and the console go to --out.
//
//   node tests/browser/e2e.mjs [--model DIR] [--minilm DIR] [--steps 20] [--out DIR] [--webtune BIN] [--only 0,1,4,5,6,7,8,9]
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inside, link, sendBody, serveFile } from './serve.mjs';
import { marks } from './marks.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cache = process.env.WEBTUNE_CACHE || path.join(os.homedir(), '.cache/webtune');
const target = process.env.CARGO_TARGET_DIR || path.join(cache, 'target');
const defaults = {
  dist: path.join(root, 'dist'),
  model: path.join(root, 'tests/fixtures/tiny-bert'),
  // A real BERT, as scripts/setup installs it; its golden values are tests/goldens/minilm.json.
  minilm: process.env.WEBTUNE_MINILM || path.join(cache, 'models/all-MiniLM-L6-v2'),
  data: path.resolve(root, '../shared/data/glue/MRPC'),
  steps: '20',
  batch: '8',
  'eval-samples': '32',
  out: path.join(cache, 'browser-test'),
  webtune: path.join(target, 'release/webtune'),
  'timeout-min': '20',
  // 1: also benchmark and train the same model on the same slice with the CLI on native wgpu, and print
  // both rates (figures, not checks).
  'compare-native': '0',
  // Scenarios to run (numbered below; 1 covers 1–3), for working on one: `--only 5`.
  only: '0,1,4,5,6,7,8,9',
};
const opt = { ...defaults };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in defaults)) throw new Error(`unknown option ${process.argv[i]}`);
  opt[key] = process.argv[i + 1];
}
const only = new Set(opt.only.split(',').map(Number));
// (1 covers 1–3: their parts share the first run's browser.)
for (const n of only) if (![0, 1, 4, 5, 6, 7, 8, 9].includes(n)) throw new Error(`--only ${n}: no such scenario (0, 1, 4–9)`);
const steps = Number(opt.steps);
const trainSamples = steps * Number(opt.batch);
const timeout = Number(opt['timeout-min']) * 60_000;
fs.mkdirSync(opt.out, { recursive: true });
const consoleLog = fs.createWriteStream(path.join(opt.out, 'console.log'));

// ---- a static server: the page, the model, and MRPC slices -------------------------------------
// The page comes as a static host sends it (serve.mjs: precompressed twins, gzip for the rest),
// over a slow link while `throttle` is set; /v/ serves a copy of it that a scenario rebuilds.
let throttle = null;
const distCopy = path.join(opt.out, 'dist-copy');
function slice(file, rows) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  return lines.slice(0, rows + 1).join('\n') + '\n';
}
// A few MRPC pairs with each sentence cut to its first words: short sequences keep a real model's
// steps affordable on a software GPU.
function shortPairs(file, rows) {
  const lines = slice(file, rows).trim().split('\n');
  const cut = (text) => text.split(' ').slice(0, 6).join(' ') + ' .';
  return [lines[0], ...lines.slice(1).map((l) => l.split('\t').map((f, i) => (i >= 3 ? cut(f) : f)).join('\t'))]
    .join('\n') + '\n';
}
// A model's config with dropout off, so that the page and the CLI (on the CPU, the reference
// backend: its dropout draws differ from a GPU's) compute the same steps.
function noDropoutConfig(dir) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  return JSON.stringify({ ...config, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
}
const routes = {
  '/short/MRPC/train.tsv': () => shortPairs(path.join(opt.data, 'train.tsv'), 4),
  '/short/MRPC/dev.tsv': () => shortPairs(path.join(opt.data, 'dev.tsv'), 2),
  '/minilm/config.json': () => noDropoutConfig(opt.minilm),
  '/nodrop/model/config.json': () => noDropoutConfig(opt.model),
  '/data/MRPC/train.tsv': () => slice(path.join(opt.data, 'train.tsv'), trainSamples),
  '/data/MRPC/dev.tsv': () => slice(path.join(opt.data, 'dev.tsv'), Number(opt['eval-samples'])),
  // Row 2 lacks two fields: the page must name the file and line.
  '/bad-data/MRPC/train.tsv': () => 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA .\tB .\n0\t3\tC .\n',
  '/bad-data/MRPC/dev.tsv': () => slice(path.join(opt.data, 'dev.tsv'), 4),
};
// A run that needs one GPU buffer of exactly 1 GiB, the most WebGPU lets the page ask for
// (maxBufferSize) and one byte more than SwiftShader's Vulkan allocates: its driver refuses it with
// VK_ERROR_OUT_OF_DEVICE_MEMORY, a real out-of-memory (scenario 7). The tiny model with 32 attention
// heads (the weights do not change: the heads only split the hidden size) and a batch of 2048: the
// attention scores of the batch holding the one long pair (64 tokens) are 2048 × 32 × 64 × 64 f32.
const oom = { batch: 2048, rows: 4096 };
function oomPairs() {
  // The tiny model's vocabulary is letters (a word is as many tokens as it has letters): each short
  // pair is the initials of its MRPC sentences' first words, 5 tokens; the long one a whole MRPC
  // pair, cut at 64.
  const lines = slice(path.join(opt.data, 'train.tsv'), oom.rows).trim().split('\n');
  const initials = (text) => text.split(' ').slice(0, 1).map((w) => w[0]).join(' ');
  const short = (l) => l.split('\t').map((f, i) => (i >= 3 ? initials(f) : f)).join('\t');
  const rows = Array.from({ length: oom.rows }, (_, i) => lines[1 + (i % (lines.length - 1))]);
  return [lines[0], ...rows.map((l, i) => (i === oom.rows / 2 ? l : short(l)))].join('\n') + '\n';
}
routes['/oom/MRPC/train.tsv'] = oomPairs;
routes['/oom/MRPC/dev.tsv'] = routes['/short/MRPC/dev.tsv'];
routes['/oom/model/config.json'] = () => JSON.stringify({
  ...JSON.parse(fs.readFileSync(path.join(opt.model, 'config.json'), 'utf8')), num_attention_heads: 32 });
// A fake Hub: the model under a repository id, GLUE as the Hub's parquet files.
const hubModel = '/hub/webtune-test/tiny-bert/resolve/main/';
const hubGlue = '/hub/datasets/nyu-mll/glue/resolve/main/';
const hubAny = /^\/hub\/(?!datasets\/)[^/]+\/[^/]+\/resolve\/main\//;
const parquet = path.join(root, 'tests/fixtures/glue-parquet');
// Connections that break, as a laptop's Wi-Fi does: the first GET of each of these files stops after
// 40% of it (the last one on every GET); `ranges` says whether the server honours Range requests.
const breaking = {
  '/cut/model/model.safetensors': { file: () => fs.readFileSync(path.join(opt.model, 'model.safetensors')), ranges: true },
  '/cut/MRPC/train.tsv': { file: () => Buffer.from(routes['/data/MRPC/train.tsv']()), ranges: false },
  '/dead/model/model.safetensors': { file: () => fs.readFileSync(path.join(opt.model, 'model.safetensors')), ranges: true, always: true },
};
routes['/cut/MRPC/dev.tsv'] = routes['/data/MRPC/dev.tsv'];
// Hostile model folders: what fuzzing found (fuzz/regressions) and small inputs of its corpus, each
// in place of one file of the tiny model. A tokenizer input's first byte picks the file kind
// (fuzz/fuzz_targets/tokenizer.rs; 0: tokenizer.json), the rest is the file.
const fuzz = path.join(root, 'fuzz');
const fixtureWeights = fs.readFileSync(path.join(opt.model, 'model.safetensors'));
const hostile = [
  { name: 'huge-vocab', file: 'config.json', bytes: fs.readFileSync(path.join(fuzz, 'regressions/config/huge-vocab-size')),
    // The file names `model_type` twice, which is refused before its size (a unit test has that one).
    expected: /config\.json: .*duplicate field `model_type`/ },
  { name: 'undefined-special', file: 'tokenizer.json',
    bytes: fs.readFileSync(path.join(fuzz, 'regressions/tokenizer/template-undefined-special-token')).subarray(1), expected: /special token `\[CLS\]`/ },
  { name: 'decoder-utf8', file: 'tokenizer.json', bytes: fs.readFileSync(path.join(fuzz, 'regressions/tokenizer/decoder-invalid-utf8')).subarray(1),
    expected: /tokenizer\.json: not valid JSON/ },
  ...fs.readdirSync(path.join(fuzz, 'corpus/safetensors')).sort()
    .map((f) => fs.readFileSync(path.join(fuzz, 'corpus/safetensors', f)))
    .filter((b) => b.length < 4096 && !b.equals(fixtureWeights)).slice(0, 8)
    .map((bytes, i) => ({ name: `safetensors-${i}`, file: 'model.safetensors', bytes, expected: /model\.safetensors/ })),
];
for (const h of hostile) routes[`/hostile/${h.name}/${h.file}`] = () => h.bytes;
const gets = {};
const rangesAsked = [];
function serveBreaking(req, res, route, pathname) {
  const body = route.file();
  if (req.method === 'HEAD') { res.writeHead(200, { 'content-length': body.length }); res.end(); return; }
  gets[pathname] = (gets[pathname] || 0) + 1;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range || '');
  if (range) rangesAsked.push(`${pathname} ${req.headers.range}`);
  let [status, start, headers] = [200, 0, {}];
  if (range && route.ranges) {
    start = Number(range[1]);
    [status, headers] = [206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` }];
  }
  res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length - start, ...headers });
  if (gets[pathname] === 1 || route.always) {
    res.write(body.subarray(start, start + Math.floor((body.length - start) * 0.4)));
    setTimeout(() => res.destroy(), 100);
    return;
  }
  res.end(body.subarray(start));
}
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (breaking[url.pathname]) { serveBreaking(req, res, breaking[url.pathname], url.pathname); return; }
  if (routes[url.pathname]) {
    sendBody(req, res, Buffer.from(routes[url.pathname]()), 'text/plain', { throttle });
    return;
  }
  const [base, dir] = url.pathname.startsWith('/model/') ? ['/model/', opt.model]
    : url.pathname.startsWith('/cut/model/') ? ['/cut/model/', opt.model]
    : url.pathname.startsWith('/dead/model/') ? ['/dead/model/', opt.model]
    : url.pathname.startsWith('/oom/model/') ? ['/oom/model/', opt.model]
    : url.pathname.startsWith('/nodrop/model/') ? ['/nodrop/model/', opt.model]
    : url.pathname.startsWith('/hostile/') ? [url.pathname.split('/').slice(0, 3).join('/') + '/', opt.model]
    : url.pathname.startsWith('/minilm/') ? ['/minilm/', opt.minilm]
    // all-MiniLM-L6-v2 by its own name, and the whole of MRPC: the course's recipe (scenario 9).
    : url.pathname.startsWith('/models/all-MiniLM-L6-v2/') ? ['/models/all-MiniLM-L6-v2/', opt.minilm]
    : url.pathname.startsWith('/glue/MRPC/') ? ['/glue/MRPC/', opt.data]
    : url.pathname.startsWith('/goldens/') ? ['/goldens/', path.join(root, 'tests/goldens')]
    : url.pathname.startsWith(hubModel) ? [hubModel, opt.model]
    // Any other Hub model (the page's presets, in a teacher's link): the tiny model.
    : hubAny.test(url.pathname) ? [url.pathname.match(hubAny)[0], opt.model]
    : url.pathname.startsWith(hubGlue) ? [hubGlue, parquet]
    : url.pathname.startsWith('/v/') ? ['/v/', distCopy] : ['/', opt.dist];
  const file = inside(dir, url.pathname.slice(base.length));
  if (!file) { res.writeHead(404); res.end(); return; }
  serveFile(req, res, file, { throttle });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const flags = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
async function launch(extra) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...flags, ...extra] });
}
async function open(browser, query, name) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1400 } });
  const page = await context.newPage();
  page.on('console', (m) => consoleLog.write(`[${name}] ${m.type()}: ${m.text()}\n`));
  page.on('pageerror', (e) => consoleLog.write(`[${name}] pageerror: ${e}\n`));
  await page.goto(`${origin}/?${query}`);
  return page;
}
const state = (page) => page.getAttribute('[data-testid=status]', 'data-state');
async function waitState(page, wanted, ms) {
  // A failure ends any wait: the error is the news.
  const list = [].concat(wanted);
  await page.waitForFunction((l) => [...l, 'failed', 'no-webgpu'].includes(
    document.querySelector('[data-testid=status]')?.dataset.state), list, { timeout: ms, polling: 250 })
    .catch(async (e) => {
      const status = await page.textContent('[data-testid=status]').catch(() => '?');
      throw new Error(`waiting for state ${list}: still "${status}" (${e.message.split('\n')[0]})`);
    });
  const now = await state(page);
  if (!list.includes(now)) {
    const error = await page.textContent('[data-testid=error]').catch(() => '');
    throw new Error(`waiting for state ${list}, the page went to "${now}": ${error}`);
  }
  return now;
}
const attr = (page, sel, name) => page.getAttribute(sel, name);
// The files the page reads under `url` (a folder of the routes above), as files for the CLI.
function nativeFiles(url, files, fallback) {
  const dir = path.join(opt.out, url);
  fs.mkdirSync(dir, { recursive: true });
  for (const name of files) {
    const route = routes[`${url}/${name}`];
    const file = path.join(dir, name);
    fs.rmSync(file, { force: true });
    if (route) fs.writeFileSync(file, route());
    else fs.symlinkSync(path.join(fallback, name), file);
  }
  return dir;
}
const nativeData = () => nativeFiles('/data/MRPC', ['train.tsv', 'dev.tsv']);
const step = async (page) => Number(await attr(page, '[data-testid=progress]', 'data-step'));
// A safetensors file's f32 tensors by name (an 8-byte header length, a JSON header, the data).
function tensors(file) {
  const bytes = fs.readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32') continue;
    const [start, end] = t.data_offsets.map((o) => 8 + length + o);
    out[name] = Array.from({ length: (end - start) / 4 }, (_, i) => bytes.readFloatLE(start + 4 * i));
  }
  return out;
}
const results = {};

// Each scenario is registered here and run at the end, in the order that puts the ones without the
// CLI first: scripts/test starts this test as soon as the page is built, while the native build
// (the CLI) may still be going. The checks of the page against the CLI then wait for the end
// (`againstCli`); scenario 9, which opens the CLI's report in the browser, waits for the CLI.
const scenarios = new Map();
const scenario = (n, run) => scenarios.set(n, run);
const cliFirst = [0, 4, 7, 5, 1, 8, 6, 9];
// WEBTUNE_CLI_READY, where set, names the file the native build writes its exit status to.
const cliFile = process.env.WEBTUNE_CLI_READY;
const cliBuilt = () => !cliFile || fs.existsSync(cliFile);
let cliChecked = !cliFile;
async function cliReady() {
  if (cliChecked) return;
  const start = Date.now();
  while (!cliBuilt()) {
    if (Date.now() - start > timeout) throw new Error(`no CLI after ${opt['timeout-min']} min: nothing wrote ${cliFile}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const status = fs.readFileSync(cliFile, 'utf8').trim();
  if (status !== '0') throw new Error(`the CLI's build failed (exit ${status} in ${cliFile}): ${opt.webtune} is not there to check the page against`);
  cliChecked = true;
  // The test's own seconds, and the scenario's lap, include this wait.
  results.cli_wait_s = (Date.now() - start) / 1000;
  if (results.cli_wait_s >= 1) console.log(`# waited ${results.cli_wait_s.toFixed(0)} s for the CLI's build`);
}
// A check of the page against the CLI: run at once where the CLI is built, else after the page's
// scenarios, which go on meanwhile (scripts/test starts this test before the native build ends). A
// check uses only the values and files it was handed, never a page.
const cliChecks = [];
async function againstCli(name, check) {
  if (cliBuilt()) return check();
  console.log(`# ${name}: checked against the CLI once it is built`);
  cliChecks.push(check);
}
// The CLI (`opt.webtune`) with these arguments, once it is built: every call goes through here.
async function webtune(args, options) {
  await cliReady();
  return execFileSync(opt.webtune, args, options);
}

// ---- 0. what a visitor downloads: the targets of docs/benchmarks.md ("The page's download") ------
scenario(0, async () => {
  const build = JSON.parse(fs.readFileSync(path.join(opt.dist, 'webtune-build.json'), 'utf8'));
  const br = (f) => fs.statSync(path.join(opt.dist, `${f}.br`)).size;
  const pageWasm = Object.keys(build.files).find((f) => /^webtune-page-.*_bg\.wasm$/.test(f));
  const sizes = { page_wasm: build.files[pageWasm], page_wasm_br: br(pageWasm),
    worker_wasm: build.files['webtune-worker_bg.wasm'],
    dist_br: Object.keys(build.files).reduce((sum, f) => sum + (fs.existsSync(path.join(opt.dist, `${f}.br`)) ? br(f) : build.files[f]), 0) };
  Object.assign(results, sizes);
  assert.ok(sizes.page_wasm <= 1e6 && sizes.page_wasm_br <= 300e3, `the page's wasm: ${JSON.stringify(sizes)}`);
  assert.ok(sizes.worker_wasm <= 20e6, `the worker's wasm: ${JSON.stringify(sizes)}`);
  assert.ok(sizes.dist_br <= 4e6, `dist/ in brotli: ${JSON.stringify(sizes)}`);
  console.log(`ok - dist/: the page's wasm ${(sizes.page_wasm / 1e3).toFixed(0)} kB (${(sizes.page_wasm_br / 1e3).toFixed(0)} kB brotli), `
    + `the worker's ${(sizes.worker_wasm / 1e6).toFixed(1)} MB, all ${(sizes.dist_br / 1e6).toFixed(2)} MB brotli`);
});
const benchSize = { warmup: 1, steps: 4 };
const t0 = Date.now();
// Seconds since the last call, for each scenario's line (CI's budget is counted in minutes).
let lapStart = t0;
const lap = () => { const now = Date.now(); const s = ((now - lapStart) / 1000).toFixed(0); lapStart = now; return `${s} s`; };

// ---- 1. a shared link trains, pauses, resumes, evaluates, classifies and exports ----------------
scenario(1, async () => {
  const browser = await launch(['--enable-unsafe-webgpu']);
  try {
    const runParams = { model: '/model', data: '/data/MRPC', task: 'mrpc', max_steps: String(steps),
      batch: opt.batch, max_eval_samples: opt['eval-samples'], logging_steps: '5', save_steps: '4' };
    // bench_*: the size of the Benchmark button's run, pressed after training.
    const query = new URLSearchParams({ ...runParams, autostart: '1', bench_warmup: String(benchSize.warmup),
      bench_steps: String(benchSize.steps) });
    const page = await open(browser, query, 'train');
    await waitState(page, 'training', 5 * 60_000);
    const adapter = await page.textContent('[data-testid=adapter]');
    console.log(`adapter: ${adapter}`);

    // The main thread answers while the worker trains.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=progress]').dataset.step) >= 2,
      null, { timeout, polling: 250 });
    const latencies = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(document.title))));
      latencies.push(Date.now() - t);
    }
    results.main_thread_max_latency_ms = Math.max(...latencies);
    assert.ok(results.main_thread_max_latency_ms < 1000, `main thread answered in ${latencies} ms`);

    // Pause holds the run; resume continues it.
    if ((await step(page)) < steps - 2) {
      await page.click('[data-testid=pause]');
      await waitState(page, 'paused', 60_000);
      const held = await step(page);
      await page.waitForTimeout(2000);
      assert.equal(await step(page), held, 'a paused run does not advance');
      await page.click('[data-testid=resume]');
      await waitState(page, ['training', 'finished'], 60_000);
      results.paused_at_step = held;
    }
    // Mid-run, once the loss curve has a few points.
    const midway = Math.min(steps - 1, Math.max(2, Math.floor(steps * 0.6)));
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=progress]').dataset.step) >= n,
      midway, { timeout, polling: 100 });
    await page.screenshot({ path: path.join(opt.out, 'page-training.png'), fullPage: true });
    assert.ok(Number(await attr(page, '[data-testid=checkpoint]', 'data-step')) >= 4, 'checkpoints were saved');

    await waitState(page, 'finished', timeout);
    assert.equal(await step(page), steps, 'progress reached the last step');
    assert.equal(Number(await attr(page, '[data-testid=progress]', 'data-total')), steps);
    const losses = await page.$$eval('[data-testid=loss]', (els) => els.map((e) => Number(e.dataset.value)));
    assert.ok(losses.length > 0 && losses.every(Number.isFinite), `finite loss: ${losses}`);
    const acc = await page.$$eval('[data-testid=eval-accuracy]', (els) => els.map((e) => Number(e.dataset.value)));
    const f1 = await page.$$eval('[data-testid=eval-f1]', (els) => els.map((e) => Number(e.dataset.value)));
    assert.ok(acc.length >= 1 && acc.every((a) => a >= 0 && a <= 1), `accuracy ${acc}`);
    assert.ok(f1.length === acc.length && f1.every((f) => f >= 0 && f <= 1), `f1 ${f1}`);
    // What the last evaluation got wrong agrees with its accuracy, and each wrong answer is one, with
    // its text from its line of dev.tsv, the most confident first, twenty to a page.
    const evalCount = Number(opt['eval-samples']);
    const confusion = JSON.parse(await attr(page, '[data-testid=confusion]', 'data-counts'));
    const right = confusion[0][0] + confusion[1][1];
    assert.equal(confusion.flat().reduce((s, n) => s + n, 0), evalCount, `confusion ${JSON.stringify(confusion)}`);
    assert.ok(Math.abs(right / evalCount - acc.at(-1)) < 1e-12, `confusion ${JSON.stringify(confusion)} vs accuracy ${acc.at(-1)}`);
    const devLines = fs.readFileSync(path.join(opt.data, 'dev.tsv'), 'utf8').split('\n');
    const readMistakes = () => page.$$eval('[data-testid=mistake]', (els) => els.map((e) => ({ ...e.dataset,
      probabilities: JSON.parse(e.dataset.probabilities), text: e.querySelector('q').textContent })));
    const seen = [];
    for (let p = 0; ; p++) {
      const shown = await readMistakes();
      assert.equal(shown.length, Math.min(20, evalCount - right - seen.length), `page ${p + 1} of the mistakes`);
      seen.push(...shown);
      if (seen.length === evalCount - right) break;
      await page.click('[data-testid=mistakes-next]');
      await page.waitForFunction((first) => document.querySelector('[data-testid=mistake]')?.dataset.index !== first,
        shown[0].index, { timeout: 10_000 });
    }
    for (const [i, m] of seen.entries()) {
      const [label, predicted] = [Number(m.label), Number(m.predicted)];
      const confidence = m.probabilities[predicted];
      assert.ok(label !== predicted && confidence >= m.probabilities[1 - predicted], `mistake ${JSON.stringify(m)}`);
      assert.ok(i === 0 || seen[i - 1].probabilities[Number(seen[i - 1].predicted)] >= confidence, 'most confident first');
      assert.ok(m.text.length > 0 && devLines[Number(m.line) - 1].includes(m.text), `line ${m.line}: ${m.text}`);
    }
    await page.locator('.mistakes').screenshot({ path: path.join(opt.out, 'page-mistakes.png') });
    results.mistakes = seen.length;
    const elapsed = Number(await attr(page, '[data-testid=progress]', 'data-elapsed'));
    Object.assign(results, { steps, loss: losses.at(-1), eval_accuracy: acc.at(-1), eval_f1: f1.at(-1),
      train_runtime_s: elapsed, browser_steps_per_second: steps / elapsed });
    const curve = JSON.parse(await attr(page, '[data-testid=chart]', 'data-losses'));
    // The charts draw the run's own numbers: the loss chart its logged losses (the last one the
    // progress line's), the scores chart every evaluation of the table; a tiny model has no
    // PyTorch reference.
    assert.equal(curve.at(-1)[1], losses.at(-1), `loss chart ${JSON.stringify(curve)}`);
    // (every logging_steps, and the last step)
    const logSteps = [...new Set([...Array.from({ length: Math.floor(steps / 5) }, (_, i) => 5 * (i + 1)), steps])];
    assert.deepEqual(curve.map((p) => p[0]), logSteps, 'a point per log');
    const drawn = JSON.parse(await attr(page, '[data-testid=scores-chart]', 'data-scores'));
    assert.deepEqual(drawn.map((r) => [r.scores.accuracy, r.scores.f1]), acc.map((a, i) => [a, f1[i]]), 'scores chart');
    assert.equal(drawn.at(-1).step, steps);
    assert.equal(await attr(page, '[data-testid=scores-chart]', 'data-reference'), '');
    await page.locator('.charts').screenshot({ path: path.join(opt.out, 'page-charts.png') });
    assert.equal(await page.$('[data-testid=resume-offer]'), null, 'a finished run leaves nothing to resume');
    assert.equal(await page.$('[data-testid=checkpoint]'), null, 'nor says a checkpoint is kept');
    await page.screenshot({ path: path.join(opt.out, 'page-finished.png'), fullPage: true });

    // Try it.
    const a = 'The company said profit rose 5 percent.';
    const b = 'Profit at the company increased by 5 percent, it said.';
    await page.fill('[data-testid=text-a]', a);
    await page.fill('[data-testid=text-b]', b);
    await page.click('[data-testid=classify]');
    await page.waitForSelector('[data-testid=prediction]', { timeout: 120_000 });
    const probs = JSON.parse(await attr(page, '[data-testid=prediction]', 'data-probabilities'));
    const sum = probs.reduce((s, p) => s + p, 0);
    assert.ok(probs.length === 2 && Math.abs(sum - 1) < 1e-4, `probabilities ${probs} sum to ${sum}`);
    // How it read the pair: [CLS] a [SEP] b [SEP], segment 0 up to the first [SEP], 1 after; a bar
    // per class with its probability. (The tokens are checked against the CLI's below.)
    const tokens = JSON.parse(await attr(page, '[data-testid=tokens]', 'data-tokens'));
    const firstSep = tokens.findIndex((t, i) => i > 0 && t[2]);
    assert.equal(tokens.filter((t) => t[2]).length, 3, `three special tokens: ${JSON.stringify(tokens)}`);
    assert.ok(tokens[0][2] && tokens.at(-1)[2] && tokens.every((t, i) => t[1] === (i <= firstSep ? 0 : 1)),
      `segments: ${JSON.stringify(tokens)}`);
    const bars = await page.$$eval('[data-testid=probability-bar]', (els) => els.map((e) => Number(e.dataset.value)));
    assert.deepEqual(bars, probs, 'a bar per class');
    // Where [CLS] looks in the last layer: a distribution over the tokens per head, the strip
    // shaded by their mean, then by one head when it is picked. (Checked against the CLI's below,
    // whose values parity.rs checks against transformers.)
    const attention = JSON.parse(await attr(page, '[data-testid=attention]', 'data-attention'));
    assert.ok(attention.length > 0 && attention.every((row) => row.length === tokens.length
      && Math.abs(row.reduce((s, x) => s + x, 0) - 1) < 1e-4), `attention rows: ${JSON.stringify(attention)}`);
    const shownRow = async () => JSON.parse(await attr(page, '[data-testid=attention]', 'data-shown'));
    const mean = tokens.map((_, j) => attention.reduce((s, row) => s + row[j], 0) / attention.length);
    assert.equal(await attr(page, '[data-testid=attention]', 'data-head'), 'mean');
    assert.ok((await shownRow()).every((x, j) => Math.abs(x - mean[j]) < 1e-6), 'the strip starts at the heads\' mean');
    const cells = await page.$$eval('[data-testid=attention] .cell', (els) => els.map((e) => [e.textContent, Number(e.dataset.value)]));
    assert.deepEqual(cells.map((c) => c[0]), tokens.map((t) => t[0]), 'a cell per token');
    assert.deepEqual(cells.map((c) => c[1]), await shownRow(), 'each cell shaded by its weight');
    await page.selectOption('[data-testid=attention-head]', String(attention.length - 1));
    await page.waitForFunction((h) => document.querySelector('[data-testid=attention]').dataset.head === h,
      String(attention.length - 1));
    assert.deepEqual(await shownRow(), attention.at(-1), 'the last head picked, its row shown');
    await page.locator('section.try').screenshot({ path: path.join(opt.out, 'page-try-it.png') });

    // Download, then the CLI loads the files and agrees.
    await page.click('[data-testid=export]');
    await page.waitForSelector('[data-testid=download-file]', { timeout: 120_000 });
    const names = await page.$$eval('[data-testid=download-file]', (els) => els.map((e) => e.dataset.name));
    for (const need of ['model.safetensors', 'config.json']) assert.ok(names.includes(need), `exported ${names}`);
    const modelDir = path.join(opt.out, 'exported-model');
    fs.rmSync(modelDir, { recursive: true, force: true });
    fs.mkdirSync(modelDir, { recursive: true });
    for (const name of names) {
      const [download] = await Promise.all([page.waitForEvent('download'),
        page.click(`[data-testid=download-file][data-name="${name}"]`)]);
      await download.saveAs(path.join(modelDir, name));
    }
    const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
    assert.equal(config.id2label['1'], 'equivalent', `id2label ${JSON.stringify(config.id2label)}`);
    console.log(`ok - trains from a shared link, pauses, evaluates, classifies, exports (${lap()})`);
    await againstCli('the exported model', async () => {
      const cli = JSON.parse(await webtune(['predict', '--model', modelDir, '--backend', 'cpu', a, b],
        { encoding: 'utf8' }));
      const diff = Math.max(...cli.probabilities.map((p, i) => Math.abs(p - probs[i])));
      assert.ok(diff < 1e-4, `page ${probs} vs CLI ${cli.probabilities}`);
      assert.deepEqual(tokens, cli.tokens.map((t) => [t.text, t.segment, t.special]), 'the page reads the pair as the CLI does');
      const attentionDiff = Math.max(...cli.attention.flatMap((row, h) => row.map((x, j) => Math.abs(x - attention[h][j]))));
      assert.ok(cli.attention.length === attention.length && attentionDiff < 1e-4,
        `attention: page ${JSON.stringify(attention)} vs CLI ${JSON.stringify(cli.attention)}`);
      Object.assign(results, { page_probabilities: probs, cli_probabilities: cli.probabilities,
        page_vs_cli_max_probability_diff: diff, page_vs_cli_max_attention_diff: attentionDiff });
      console.log(`ok - the CLI reads the exported model: the page's probabilities and attention within ${Math.max(diff, attentionDiff).toExponential(1)}`);
    });

    // The Benchmark button times steps of the same model and data (sized by the link's bench_*; this
    // worker has compiled its kernels already); the trained model stays. With --compare-native 1,
    // `webtune bench` natively (wgpu) on the same batches, for the browser/native ratio: a figure,
    // not a check, and 40 s of lavapipe compiling its kernels.
    await page.click('[data-testid=bench]');
    await page.waitForSelector('[data-testid=bench-result]', { timeout });
    const browserBench = JSON.parse(await attr(page, '[data-testid=bench-result]', 'data-report'));
    assert.equal(browserBench.steps, benchSize.steps);
    const phases = browserBench.ms_forward + browserBench.ms_backward + browserBench.ms_optimizer;
    assert.ok(browserBench.samples_per_s > 0 && Math.abs(phases - browserBench.ms_per_step) < 1e-6 * phases + 1e-9,
      JSON.stringify(browserBench));
    assert.equal(await page.isEnabled('[data-testid=classify]'), true, 'a benchmark keeps the trained model');
    Object.assign(results, { bench_browser_samples_per_s: browserBench.samples_per_s,
      bench_browser_ms: [browserBench.ms_forward, browserBench.ms_backward, browserBench.ms_optimizer] });
    let native = '';
    if (opt['compare-native'] === '1') {
      const nativeOut = await webtune(['bench', '--model', opt.model, '--data', nativeData(), '--backend', 'wgpu',
        '--per-device-train-batch-size', opt.batch, '--warmup', String(benchSize.warmup), '--steps', String(benchSize.steps)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const nativeBench = JSON.parse(nativeOut.trim().split('\n').at(-1));
      assert.equal(nativeBench.steps, benchSize.steps);
      Object.assign(results, { bench_native_wgpu_samples_per_s: nativeBench.samples_per_s,
        bench_browser_over_native: browserBench.samples_per_s / nativeBench.samples_per_s,
        bench_native_ms: [nativeBench.ms_forward, nativeBench.ms_backward, nativeBench.ms_optimizer] });
      native = `; native wgpu ${nativeBench.samples_per_s.toFixed(2)}, ratio ${results.bench_browser_over_native.toFixed(2)}`;
    }
    console.log(`ok - the Benchmark button measures (${browserBench.samples_per_s.toFixed(2)} samples/s${native}); `
      + `the trained model stays (${lap()})`);

    // ---- 1b. the same run, reloaded mid-way, resumes from its checkpoint in the browser ----------
    const again = await open(browser, new URLSearchParams(runParams), 'reload');
    await waitState(again, 'ready', 5 * 60_000);
    await again.click('[data-testid=train]');
    await again.waitForFunction(() => Number(document.querySelector('[data-testid=checkpoint]')?.dataset.step) >= 8
      && Number(document.querySelector('[data-testid=progress]')?.dataset.step) >= 10, null, { timeout, polling: 50 });
    const reloadedAt = await step(again);
    await again.reload();
    await again.waitForSelector('[data-testid=resume-offer]', { timeout: 120_000 });
    const savedStep = Number(await attr(again, '[data-testid=resume-offer]', 'data-step'));
    assert.ok(savedStep >= 8 && savedStep <= reloadedAt, `saved at ${savedStep}, reloaded at ${reloadedAt}`);
    await again.click('[data-testid=resume-run]');
    await waitState(again, 'finished', timeout);
    assert.equal(await step(again), steps, 'the resumed run reached the last step');
    const resumedCurve = JSON.parse(await attr(again, '[data-testid=chart]', 'data-losses'));
    assert.deepEqual(resumedCurve.map((p) => p[0]), curve.map((p) => p[0]), 'the same logging steps, history included');
    const lossDiff = Math.max(...curve.map((p, i) => Math.abs(p[1] - resumedCurve[i][1])));
    assert.ok(lossDiff <= 1e-4, `losses of the resumed run differ by ${lossDiff}: ${JSON.stringify(resumedCurve)} vs ${JSON.stringify(curve)}`);
    const resumedAcc = await again.$$eval('[data-testid=eval-accuracy]', (els) => els.map((e) => Number(e.dataset.value)));
    assert.equal(resumedAcc.at(-1), acc.at(-1), 'the same final accuracy');
    assert.equal(await again.$('[data-testid=resume-offer]'), null, 'nothing left to resume');
    Object.assign(results, { reloaded_at_step: reloadedAt, resumed_from_step: savedStep,
      resumed_max_loss_diff: lossDiff });
    await again.close();
    console.log(`ok - a run reloaded mid-way resumes from its checkpoint and ends as the uninterrupted run (${lap()})`);

    // ---- 1c. a real BERT: transformers' numbers on this GPU, and two training steps as natively ------
    // The tiny model above cannot show faults of kernels that only larger shapes select (issue: the
    // page's MiniLM once went NaN at step 2 while native wgpu trained it).
    const minilmParams = { model: '/minilm', data: '/short/MRPC', task: 'mrpc', max_steps: '2', batch: '2',
      logging_steps: '1', save_steps: '1000' };
    const real = await open(browser, new URLSearchParams({ ...minilmParams, check: '/goldens/minilm.json' }), 'minilm');
    await waitState(real, 'finished', timeout);
    const parity = JSON.parse(await attr(real, '[data-testid=check-result]', 'data-report'));
    const worst = parity.differences.reduce((w, d) => (w && w.max_abs_diff >= d.max_abs_diff ? w : d), null);
    assert.equal(await attr(real, '[data-testid=check-result]', 'data-ok'), 'true',
      `MiniLM in the page vs transformers: ${await real.textContent('[data-testid=check-result]')}`);
    assert.equal(parity.differences.length, 12, 'pooled output, logits, loss, the first token\'s attention and 8 gradients compared');
    await real.click('[data-testid=train]');
    // The page says `finished` from the check until this run's first event: wait for its steps first.
    await real.waitForFunction(() => Number(document.querySelector('[data-testid=progress]')?.dataset.step) >= 2
      || document.querySelector('[data-testid=status]')?.dataset.state === 'failed', null, { timeout, polling: 250 });
    await waitState(real, 'finished', timeout);
    const realCurve = JSON.parse(await attr(real, '[data-testid=chart]', 'data-losses'));
    // How a real BERT reads a pair: WordPieces, and [CLS]'s attention over them from its 12 heads
    // (the picture the tiny model's letters cannot give).
    await real.fill('[data-testid=text-a]', 'The company said profit rose 5 percent.');
    await real.fill('[data-testid=text-b]', 'Profit at the company increased by 5 percent, it said.');
    await real.click('[data-testid=classify]');
    await real.waitForSelector('[data-testid=attention]', { timeout: 120_000 });
    const realTokens = JSON.parse(await attr(real, '[data-testid=tokens]', 'data-tokens')).map((t) => t[0]);
    assert.deepEqual(realTokens.slice(0, 4), ['[CLS]', 'the', 'company', 'said'], `tokens ${realTokens}`);
    const realAttention = JSON.parse(await attr(real, '[data-testid=attention]', 'data-attention'));
    assert.ok(realAttention.length === 12 && realAttention.every((row) => row.length === realTokens.length),
      `12 heads over ${realTokens.length} tokens: ${JSON.stringify(realAttention)}`);
    await real.locator('section.try').screenshot({ path: path.join(opt.out, 'page-try-it-minilm.png') });
    await real.close();
    Object.assign(results, { minilm_check_max_abs_diff: worst.max_abs_diff, minilm_check_worst: worst.name });
    console.log(`ok - all-MiniLM-L6-v2 in the page: within ${worst.max_abs_diff.toExponential(1)} of transformers `
      + `(${worst.name}); it trains two steps (${lap()})`);
    await againstCli('MiniLM\'s two steps', async () => {
      const nativeRun = path.join(opt.out, 'native-minilm');
      fs.rmSync(nativeRun, { recursive: true, force: true });
      const minilmFiles = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']
        .filter((f) => fs.existsSync(path.join(opt.minilm, f)));
      await webtune(['train', '--model', nativeFiles('/minilm', minilmFiles, opt.minilm),
        '--data', nativeFiles('/short/MRPC', ['train.tsv', 'dev.tsv']), '--backend', 'cpu', '--max-steps', '2',
        '--per-device-train-batch-size', '2', '--logging-steps', '1', '--save-strategy', 'no', '--quiet',
        '--output-dir', nativeRun], { stdio: ['ignore', 'ignore', 'pipe'] });
      const nativeCurve = fs.readFileSync(path.join(nativeRun, 'metrics.jsonl'), 'utf8').trim().split('\n')
        .map((l) => JSON.parse(l)).filter((m) => 'loss' in m).map((m) => [m.step, m.loss]);
      assert.deepEqual(realCurve.map((p) => p[0]), [1, 2], `page losses ${JSON.stringify(realCurve)}`);
      assert.deepEqual(nativeCurve.map((p) => p[0]), [1, 2], `native losses ${JSON.stringify(nativeCurve)}`);
      // Dropout is off and the batches are the same, so only rounding may differ (0 when measured on
      // the CPU, the reference; native wgpu on lavapipe gave the same losses in 49 s instead of 1).
      const realDiff = Math.max(...realCurve.map((p, i) => Math.abs(p[1] - nativeCurve[i][1])));
      assert.ok(realCurve.every((p) => Number.isFinite(p[1])) && realDiff <= 1e-4,
        `MiniLM's first two losses, page ${JSON.stringify(realCurve)} vs the CPU ${JSON.stringify(nativeCurve)}`);
      Object.assign(results, { minilm_page_losses: realCurve.map((p) => p[1]), minilm_native_losses: nativeCurve.map((p) => p[1]) });
      console.log(`ok - all-MiniLM-L6-v2's two training steps in the page within ${realDiff.toExponential(1)} of the CLI on the CPU`);
    });

    // ---- 2. a model and GLUE from a (fake) Hub; Stop keeps the model; a reload reads the cache ------
    const hubQuery = 'hub=/hub&model=webtune-test/tiny-bert&data=nyu-mll/glue&task=mrpc&max_steps=40&max_eval_samples=16&autostart=1';
    const hub = await open(browser, hubQuery, 'hub');
    await hub.waitForFunction(() => Number(document.querySelector('[data-testid=progress]')?.dataset.step) >= 2,
      null, { timeout, polling: 100 });
    await hub.click('[data-testid=stop]');
    await waitState(hub, 'finished', timeout);
    assert.match(await hub.textContent('[data-testid=status]'), /Stopped/);
    const stoppedAt = await step(hub);
    assert.ok(stoppedAt < 40, `stopped at step ${stoppedAt}`);
    assert.equal(await hub.$$eval('[data-testid=eval-row]', (r) => r.length), 1, 'the stopped model is evaluated');
    assert.equal(await hub.isEnabled('[data-testid=classify]'), true, 'the stopped model can be tried');
    await hub.waitForSelector('[data-testid=resume-offer]', { timeout: 60_000 });
    assert.equal(Number(await attr(hub, '[data-testid=resume-offer]', 'data-step')), stoppedAt,
      'Stop keeps a checkpoint to go on from');
    await hub.click('[data-testid=discard-run]');
    await hub.waitForSelector('[data-testid=resume-offer]', { state: 'detached', timeout: 60_000 });
    const weights = '[data-testid=download][data-file="model.safetensors"]';
    assert.equal(await hub.getAttribute(weights, 'data-cached'), 'false');
    await hub.reload();
    await hub.waitForSelector(weights, { timeout: 120_000 });
    assert.equal(await hub.getAttribute(weights, 'data-cached'), 'true', 'a reload reads the weights from the cache');
    await hub.close(); // its autostarted run would compete for the CPU with what follows
    results.stopped_at_step = stoppedAt;
    console.log(`ok - a Hub id and the Hub\'s GLUE parquet files train; Stop keeps an evaluated, resumable model; a reload reads the cache (${lap()})`);

    // ---- 2b. the other kinds of GLUE task: a regression (STS-B) and two validation sets (MNLI) ----
    // From the Hub's parquet files (the fixtures of scripts/glue_fixtures.py), dropout off, so the
    // CLI on the CPU computes the same run: the page's scores must be its scores. One page: MNLI is
    // picked from the task menu after STS-B (its worker and compiled kernels serve both).
    const params = { hub: '/hub', model: '/nodrop/model', data: 'nyu-mll/glue', task: 'stsb', max_steps: '4',
      batch: '8', lr: '1e-3', logging_steps: '2', save_steps: '1000', autostart: '1' };
    const tasks = await open(browser, new URLSearchParams(params), 'tasks');
    const taskCells = [['stsb', ['pearson', 'spearmanr']], ['mnli', ['accuracy', 'accuracy_mm']]];
    for (const [task, cells] of taskCells) {
      if (task !== 'stsb') {
        await tasks.selectOption('#task', task);
        await tasks.click('[data-testid=train]');
      }
      // The last cell appears with this run's evaluation (a new run clears the table).
      await tasks.waitForSelector(`[data-testid="eval-${cells[1]}"]`, { timeout });
      await waitState(tasks, 'finished', timeout);
      const page = {};
      for (const cell of cells) page[cell] = Number(await attr(tasks, `[data-testid="eval-${cell}"]`, 'data-value'));
      if (task === 'stsb') {
        await tasks.fill('[data-testid=text-a]', 'A dog is running in the park.');
        await tasks.fill('[data-testid=text-b]', 'A dog is jogging in the park.');
        await tasks.click('[data-testid=classify]');
        await tasks.waitForSelector('[data-testid=prediction]');
        const score = Number(await attr(tasks, '[data-testid=prediction]', 'data-score'));
        assert.ok(Number.isFinite(score) && /similarity/.test(await tasks.textContent('[data-testid=prediction]')),
          `STS-B's Try it shows a score: ${await tasks.textContent('[data-testid=prediction]')}`);
      }
      results[`${task}_page`] = page;
    }
    await tasks.close();
    console.log(`ok - STS-B (a regression: Pearson, Spearman, a score in Try it) and MNLI (matched and mismatched) `
      + `train and score in the page (${lap()})`);
    await againstCli('STS-B and MNLI', async () => {
      for (const [task, cells] of taskCells) {
        const page = results[`${task}_page`];
        const out = path.join(opt.out, `native-${task}`);
        fs.rmSync(out, { recursive: true, force: true });
        const summary = JSON.parse(await webtune(['train', '--model',
          nativeFiles('/nodrop/model', ['config.json', 'model.safetensors', 'vocab.txt'], opt.model), '--task', task,
          '--data', path.join(parquet, task), '--backend', 'cpu', '--max-steps', '4', '--learning-rate', '1e-3',
          '--logging-steps', '2', '--save-strategy', 'no', '--quiet', '--output-dir', out], { stdio: ['ignore', 'pipe', 'pipe'] }));
        const native = {};
        for (const cell of cells) {
          native[cell] = cell.endsWith('_mm') ? summary.eval_mm[cell.slice(0, -3)] : summary.eval[cell];
          assert.ok(Number.isFinite(page[cell]) && Math.abs(page[cell] - native[cell]) <= 1e-3,
            `${task} ${cell}: the page ${JSON.stringify(page)}, the CLI ${JSON.stringify(native)}`);
        }
      }
      console.log('ok - STS-B and MNLI score in the page as the CLI does');
    });

    // ---- 3. bad inputs get messages naming what is wrong ------------------------------------------
    const missing = await open(browser, 'model=/nowhere&data=/data/MRPC&max_steps=2&autostart=1', 'missing');
    await waitState(missing, 'failed', 120_000);
    const m1 = await missing.textContent('[data-testid=error]');
    assert.match(m1, /\/nowhere\/config\.json/, m1);
    const bad = await open(browser, 'model=/model&data=/bad-data/MRPC&max_steps=2&autostart=1', 'bad-data');
    await waitState(bad, 'failed', 120_000);
    const m2 = await bad.textContent('[data-testid=error]');
    assert.match(m2, /train\.tsv:3: expected 5 tab-separated fields, found 3/, m2);
    const link = await open(browser, 'batch=eight', 'bad-link');
    await waitState(link, 'failed', 60_000);
    assert.match(await link.textContent('[data-testid=error]'), /`batch`/);
    const benchLink = await open(browser, 'model=/model&data=/data/MRPC&bench=1&bench_steps=0', 'bad-bench-link');
    await waitState(benchLink, 'failed', 60_000);
    assert.match(await benchLink.textContent('[data-testid=error]'), /`bench_steps`/);
    console.log(`ok - a missing model, a malformed TSV row and a bad link are reported by name (${lap()})`);

    // ---- 3b. a connection that breaks mid-download --------------------------------------------
    const cut = await open(browser, 'model=/cut/model&data=/cut/MRPC&max_steps=4&max_eval_samples=8&autostart=1', 'cut');
    await waitState(cut, 'finished', timeout);
    assert.equal(await step(cut), 4);
    assert.ok(rangesAsked.some((r) => r.startsWith('/cut/model/model.safetensors bytes=')),
      `the weights went on from where they broke: ${rangesAsked}`);
    assert.equal(gets['/cut/MRPC/train.tsv'], 2, 'a server without ranges: the data file again from the start');
    assert.match(await cut.textContent('[data-testid=warning]'), /: the connection broke after \d+ bytes .*; trying again in 1 s/);
    const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
    const keptHash = (url) => cut.evaluate(async (u) => {
      const kept = await (await caches.open('webtune-models-v1')).match(u);
      if (!kept) return null;
      const digest = await crypto.subtle.digest('SHA-256', await kept.arrayBuffer());
      return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    }, url);
    assert.equal(await keptHash(`${origin}/cut/model/model.safetensors`), sha256(breaking['/cut/model/model.safetensors'].file()),
      'the kept weights are the whole file');
    assert.equal(await keptHash(`${origin}/cut/MRPC/train.tsv`), sha256(breaking['/cut/MRPC/train.tsv'].file()));
    const dead = await open(browser, 'model=/dead/model&data=/data/MRPC&max_steps=2&autostart=1', 'dead');
    await waitState(dead, 'failed', 120_000);
    const m3 = await dead.textContent('[data-testid=error]');
    assert.match(m3, /\/dead\/model\/model\.safetensors: could not download after 4 tries \(the connection broke after/, m3);
    assert.equal(gets['/dead/model/model.safetensors'], 4);
    assert.equal(await keptHash(`${origin}/dead/model/model.safetensors`), null, 'a broken download is never kept');
    await Promise.all([cut.close(), dead.close()]);
    console.log(`ok - a connection that breaks: the weights go on with a Range request, data without ranges start over, `
      + `the kept files are whole; one that never comes through is named after 4 tries (${lap()})`);

    // ---- 3c. storage full: the origin's quota shrunk to 20 kB (DevTools' own override) ------------
    const fullContext = await browser.newContext();
    const full = await fullContext.newPage();
    full.on('console', (m) => consoleLog.write(`[full] ${m.type()}: ${m.text()}\n`));
    const cdp = await fullContext.newCDPSession(full);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 20_000 });
    try {
      await full.goto(`${origin}/?model=/model&data=/data/MRPC&max_steps=4&save_steps=2&max_eval_samples=8&autostart=1`);
      await waitState(full, 'finished', timeout);
      assert.equal(await step(full), 4, 'the run goes on to its end');
      const warning = await full.textContent('[data-testid=warning]');
      assert.match(warning, /the checkpoint at step \d could not be saved in the browser: .+; a checkpoint needs about \d+ kB; this browser lets the page store [\d.]+ [kM]B and \d+ kB of it is used/, warning);
      assert.equal(await full.$('[data-testid=resume-offer]'), null, 'nothing half-saved is offered');
      // The weights could not be kept either: the next visit downloads them again.
      assert.equal(await full.evaluate(async (u) => (await (await caches.open('webtune-models-v1')).match(u)) === undefined,
        `${origin}/model/model.safetensors`), true, 'the weights are not kept');
      results.storage_full_warning = warning;
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
      await fullContext.close();
    }
    console.log(`ok - with the storage full, checkpoints fail with the step, the reason and the space; the run ends (${lap()})`);

    // ---- 3d. hostile model files from a URL: each refused by name; the page stays usable ---------
    const refuses = await open(browser, `model=/hostile/${hostile[0].name}&data=/data/MRPC&max_steps=2&max_eval_samples=8&autostart=1`, 'hostile');
    let shown = '';
    for (const [i, h] of hostile.entries()) {
      if (i > 0) {
        await refuses.fill('#model', `/hostile/${h.name}`);
        await refuses.click('[data-testid=train]');
      }
      // Each error names its own folder, so a new one differs from the last.
      await refuses.waitForFunction((last) => {
        const e = document.querySelector('[data-testid=error]')?.textContent;
        return e && e !== last && document.querySelector('[data-testid=status]')?.dataset.state === 'failed';
      }, shown, { timeout: 120_000, polling: 100 });
      shown = await refuses.textContent('[data-testid=error]');
      assert.match(shown, h.expected, `${h.name}: ${shown}`);
      assert.ok(shown.includes(`/hostile/${h.name}/`) || h.file !== 'model.safetensors', `${h.name} names its file: ${shown}`);
    }
    await refuses.fill('#model', '/model');
    await refuses.click('[data-testid=train]');
    await waitState(refuses, 'finished', timeout);
    await refuses.close();
    console.log(`ok - ${hostile.length} hostile model files from a URL are refused by name, and the page then trains (${lap()})`);

    // ---- 3e. two tabs: one owns the saved run (a Web Lock); the other trains without checkpoints --
    const tabs = await browser.newContext({ viewport: { width: 900, height: 1400 } });
    const [first, second] = [await tabs.newPage(), await tabs.newPage()];
    for (const [name, tab] of [['tab-1', first], ['tab-2', second]]) {
      tab.on('console', (m) => consoleLog.write(`[${name}] ${m.type()}: ${m.text()}\n`));
    }
    const tabSteps = 8;
    await first.goto(`${origin}/?model=/model&data=/data/MRPC&max_steps=${tabSteps}&save_steps=2&logging_steps=2&max_eval_samples=8&autostart=1`);
    await first.waitForSelector('[data-testid=checkpoint]', { timeout });
    await first.click('[data-testid=pause]');
    await waitState(first, 'paused', 60_000);
    const held = await step(first);
    await second.goto(`${origin}/?model=/model&data=/data/MRPC&max_steps=6&save_steps=2&logging_steps=2&max_eval_samples=8&autostart=1`);
    await waitState(second, 'finished', timeout);
    assert.equal(await step(second), 6, 'the second tab trains too');
    assert.match(await second.textContent('[data-testid=warning]'), /another tab of this page.*without checkpoints/);
    assert.equal(await second.$('[data-testid=checkpoint]'), null, 'no checkpoints from the second tab');
    // While the first tab's run holds the saved run, the second sees it and may not take it.
    await second.goto(`${origin}/`);
    await second.waitForSelector('[data-testid=resume-offer]', { timeout: 60_000 });
    assert.match(await second.textContent('[data-testid=resume-offer]'), new RegExp(`of ${tabSteps}`));
    await second.click('[data-testid=discard-run]');
    await second.waitForFunction(() => /another tab/.test(document.querySelector('[data-testid=error]')?.textContent || ''),
      null, { timeout: 60_000 });
    await second.close();
    await first.click('[data-testid=stop]');
    await waitState(first, 'finished', timeout);
    await first.waitForSelector('[data-testid=resume-offer]', { timeout: 60_000 });
    const offer = await first.textContent('[data-testid=resume-offer]');
    assert.match(offer, new RegExp(`is saved at step ${held} of ${tabSteps}`), `the first tab's run is kept: ${offer}`);
    // With the second tab gone, the first resumes its own run to the end.
    await first.click('[data-testid=resume-run]');
    await waitState(first, 'finished', timeout);
    assert.equal(await step(first), tabSteps);
    await tabs.close();
    console.log(`ok - two tabs: the first keeps its saved run (step ${held}); the second trains without checkpoints and may not discard it (${lap()})`);
  } finally {
    await browser.close();
  }
});

// ---- 8. LoRA from a link: adapters trained, a reload resumes them, and both downloads (the adapter,
// the merged model) give the page's probabilities in the CLI ----------------------------------------
scenario(8, async () => {
  const browser = await launch(['--enable-unsafe-webgpu']);
  try {
    const a = 'The company said profit rose 5 percent.';
    const b = 'Profit at the company increased by 5 percent, it said.';
    const loraParams = { hub: '/hub', model: 'webtune-test/tiny-bert', data: '/data/MRPC', task: 'mrpc', lora_r: '4',
      lr: '5e-3', max_steps: '12', logging_steps: '2', save_steps: '4' };
    const lora = await open(browser, new URLSearchParams(loraParams), 'lora');
    await waitState(lora, 'ready', 5 * 60_000);
    await lora.click('[data-testid=train]');
    await lora.waitForFunction(() => Number(document.querySelector('[data-testid=checkpoint]')?.dataset.step) >= 4
      && Number(document.querySelector('[data-testid=progress]')?.dataset.step) >= 6, null, { timeout, polling: 50 });
    const memory = await lora.$eval('[data-testid=memory]', (e) => ({ ...e.dataset }));
    assert.ok(Number(memory.trainable) > 0 && Number(memory.trainable) < Number(memory.parameters) / 2
      && Number(memory.bytes) < Number(memory.fullBytes), `LoRA's estimate: ${JSON.stringify(memory)}`);
    await lora.reload();
    await lora.waitForSelector('[data-testid=resume-offer]', { timeout: 120_000 });
    assert.match(await lora.textContent('[data-testid=resume-offer]'), /LoRA rank 4/);
    await lora.click('[data-testid=resume-run]');
    await waitState(lora, 'finished', timeout);
    assert.equal(await step(lora), 12, 'the resumed LoRA run reached the last step');
    await lora.fill('[data-testid=text-a]', a);
    await lora.fill('[data-testid=text-b]', b);
    await lora.click('[data-testid=classify]');
    await lora.waitForSelector('[data-testid=prediction]', { timeout: 120_000 });
    const loraProbs = JSON.parse(await attr(lora, '[data-testid=prediction]', 'data-probabilities'));
    // `expect`: a file of this download (the links of the last one go when the next is asked for).
    const downloadAll = async (button, expect, dir) => {
      await lora.click(button);
      await lora.waitForSelector(`[data-testid=download-file][data-name="${expect}"]`, { timeout: 120_000 });
      const files = await lora.$$eval('[data-testid=download-file]', (els) => els.map((e) => e.dataset.name));
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      for (const name of files) {
        const [download] = await Promise.all([lora.waitForEvent('download'),
          lora.click(`[data-testid=download-file][data-name="${name}"]`)]);
        await download.saveAs(path.join(dir, name));
      }
      return files;
    };
    const cliProbs = async (dir) => JSON.parse(await webtune(['predict', '--model', dir, '--backend', 'cpu', a, b],
      { encoding: 'utf8' })).probabilities;
    const adapterDir = path.join(opt.out, 'exported-adapter');
    const adapterFiles = await downloadAll('[data-testid=export]', 'adapter_config.json', adapterDir);
    for (const need of ['adapter_model.safetensors', 'adapter_config.json', 'config.json']) {
      assert.ok(adapterFiles.includes(need), `the adapter's files: ${adapterFiles}`);
    }
    assert.ok(!adapterFiles.includes('model.safetensors'), `an adapter, not a model: ${adapterFiles}`);
    const adapterConfig = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.deepEqual([adapterConfig.peft_type, adapterConfig.task_type, adapterConfig.r, adapterConfig.base_model_name_or_path],
      ['LORA', 'SEQ_CLS', 4, 'webtune-test/tiny-bert'], JSON.stringify(adapterConfig));
    // The Hub id is what peft and `webtune predict` look up; this fake Hub's model is the local fixture.
    fs.writeFileSync(path.join(adapterDir, 'adapter_config.json'),
      JSON.stringify({ ...adapterConfig, base_model_name_or_path: opt.model }));
    const mergedDir = path.join(opt.out, 'exported-merged');
    const mergedFiles = await downloadAll('[data-testid=export-merged]', 'model.safetensors', mergedDir);
    assert.ok(mergedFiles.includes('model.safetensors') && !mergedFiles.includes('adapter_config.json'), `${mergedFiles}`);
    // Trained in the page: the targeted layers moved (their adapters merged in), the others did not.
    const merged = tensors(path.join(mergedDir, 'model.safetensors'));
    const base = tensors(path.join(opt.model, 'model.safetensors'));
    const moved = (name) => Math.max(...merged[name].map((x, i) => Math.abs(x - base[name][i])));
    assert.ok(moved('bert.encoder.layer.0.attention.self.query.weight') > 0, 'the query adapter trained');
    assert.equal(moved('bert.encoder.layer.0.attention.self.key.weight'), 0, 'an untargeted layer stays frozen');
    assert.equal(moved('bert.embeddings.word_embeddings.weight'), 0, 'the embeddings stay frozen');
    await lora.screenshot({ path: path.join(opt.out, 'page-lora.png'), fullPage: true });
    const sizes = { adapter: fs.statSync(path.join(adapterDir, 'adapter_model.safetensors')).size,
      merged: fs.statSync(path.join(mergedDir, 'model.safetensors')).size };
    assert.ok(sizes.adapter < sizes.merged / 2, `the adapter's file is small: ${JSON.stringify(sizes)}`);
    console.log(`ok - LoRA from a link: ${memory.trainable} of ${memory.parameters} parameters trained, resumed after a `
      + `reload; the adapter and the merged model downloaded (${lap()})`);
    results.lora_file_bytes = sizes;
    await againstCli('LoRA\'s two downloads', async () => {
      const fromAdapter = await cliProbs(adapterDir);
      const fromMerged = await cliProbs(mergedDir);
      const loraDiff = Math.max(...loraProbs.map((p, i) => Math.max(Math.abs(p - fromAdapter[i]), Math.abs(p - fromMerged[i]))));
      assert.ok(loraDiff < 1e-4, `page ${loraProbs} vs the CLI from the adapter ${fromAdapter}, merged ${fromMerged}`);
      await lora.close();
      Object.assign(results, { lora_page_probabilities: loraProbs, lora_cli_adapter_probabilities: fromAdapter,
        lora_cli_merged_probabilities: fromMerged });
      console.log(`ok - LoRA: the adapter and the merged model give the page's probabilities in the CLI (${loraDiff.toExponential(1)})`);
    });
  } finally {
    await browser.close();
  }
});

// ---- 4. a browser without WebGPU says so --------------------------------------------------------
scenario(4, async () => {
  const plain = await launch(['--disable-blink-features=WebGPU']);
  try {
    const page = await open(plain, 'model=/model&data=/data/MRPC&max_steps=2', 'no-webgpu');
    await waitState(page, 'no-webgpu', 120_000);
    assert.match(await page.textContent('[data-testid=no-webgpu]'), /does not offer WebGPU.*Chrome/s);
    console.log(`ok - a browser without WebGPU gets the message (${lap()})`);
  } finally {
    await plain.close();
  }
});
// ---- 6. a lost GPU mid-run: the test destroys the worker's real GPUDevice after a checkpoint ------
scenario(6, async () => {
  const gpuBrowser = await launch(['--enable-unsafe-webgpu']);
  try {
    // Dropout off: the uninterrupted run is the CLI's on the CPU (1 s; the page's took 35 s).
    const lossRun = { model: '/nodrop/model', data: '/data/MRPC', task: 'mrpc', max_steps: '8', batch: opt.batch,
      max_eval_samples: '8', logging_steps: '1', save_steps: '4' };
    // test_hooks=1: the worker keeps its devices on `self.webtuneDevices` (web/src/worker/gpu.rs).
    const lost = await open(gpuBrowser, new URLSearchParams({ ...lossRun, autostart: '1', test_hooks: '1' }), 'gpu-lost');
    await lost.waitForSelector('[data-testid=checkpoint][data-step="4"]', { timeout });
    await lost.workers()[0].evaluate(() => self.webtuneDevices.forEach((d) => d.destroy()));
    const lostAt = await step(lost);
    await lost.waitForFunction(() => /the GPU was lost/.test(document.querySelector('[data-testid=error]')?.textContent || ''),
      null, { timeout: 120_000, polling: 100 });
    assert.match(await lost.textContent('[data-testid=error]'), /\nThe run's checkpoint at step [48] is kept, and the page offers to resume from it\.$/);
    const kept = JSON.parse(await lost.getAttribute('[data-testid=chart]', 'data-losses'));
    assert.ok(kept.length >= 4, `the curve so far stays: ${JSON.stringify(kept)}`);
    // A fresh worker offers the run from its checkpoint: at most save_steps steps are lost.
    await lost.waitForSelector('[data-testid=resume-offer]', { timeout: 120_000 });
    const from = Number(await attr(lost, '[data-testid=resume-offer]', 'data-step'));
    assert.ok(from >= 4 && lostAt - from <= 4, `resumes from step ${from}, lost at ${lostAt}`);
    await lost.click('[data-testid=resume-run]');
    await waitState(lost, 'finished', timeout);
    assert.equal(await step(lost), 8);
    const resumed = JSON.parse(await lost.getAttribute('[data-testid=chart]', 'data-losses'));
    const after = resumed.filter(([s]) => s > from);
    assert.equal(after.length, 8 - from);
    results.gpu_lost_at_step = lostAt;
    console.log(`ok - a GPU lost at step ${lostAt}: the page says so, keeps the curve, a fresh trainer resumes from `
      + `step ${from} to the end (${lap()})`);
    await againstCli('the lost GPU\'s losses', async () => {
      const wholeRun = path.join(opt.out, 'native-whole');
      fs.rmSync(wholeRun, { recursive: true, force: true });
      await webtune(['train', '--model', nativeFiles('/nodrop/model', ['config.json', 'model.safetensors', 'vocab.txt'], opt.model),
        '--data', nativeData(), '--backend', 'cpu', '--max-steps', '8', '--per-device-train-batch-size', opt.batch,
        '--max-eval-samples', '8', '--logging-steps', '1', '--save-strategy', 'no', '--quiet', '--output-dir', wholeRun],
      { stdio: ['ignore', 'ignore', 'pipe'] });
      const wholeLosses = fs.readFileSync(path.join(wholeRun, 'metrics.jsonl'), 'utf8').trim().split('\n')
        .map((l) => JSON.parse(l)).filter((m) => 'loss' in m).map((m) => [m.step, m.loss]);
      for (const [s, loss] of after) {
        const [, want] = wholeLosses.find(([t]) => t === s);
        assert.ok(Math.abs(loss - want) <= 1e-4, `step ${s}: ${loss} after the lost GPU, ${want} uninterrupted (CPU)`);
      }
      console.log('ok - after the lost GPU, the resumed losses are the uninterrupted run\'s (the CLI on the CPU)');
    });
  } finally {
    await gpuBrowser.close();
  }
});

// ---- 7. the GPU out of memory: the driver refuses a buffer ---------------------------------------
scenario(7, async () => {
  const gpuBrowser = await launch(['--enable-unsafe-webgpu']);
  try {
    // Seed 1 puts the long pair (row 2048) in the first batch (src/data/batch.rs `epoch_order`), so
    // the first step asks for the buffer the driver refuses: a step of 2048 pairs over 32 heads
    // before it would cost SwiftShader 90 s. That a checkpoint saved before a fatal fault is kept
    // and offered is scenario 6's.
    const run = { model: '/oom/model', data: '/oom/MRPC', task: 'mrpc', batch: String(oom.batch), epochs: '1',
      max_eval_samples: '8', logging_steps: '1', save_steps: '1', seed: '1' };
    const page = await open(gpuBrowser, new URLSearchParams({ ...run, autostart: '1' }), 'gpu-oom');
    assert.equal(await waitState(page, ['failed', 'finished'], timeout), 'failed', 'the run with the 1 GiB buffer fails');
    const error = await page.textContent('[data-testid=error]');
    assert.match(error, /^the GPU ran out of memory \(.*Out of Memory.*\): start a new run with a smaller batch size or a smaller model .*\nNo checkpoint of this run was saved before this\.$/s, error);
    // The fresh worker is up: Train is offered again.
    await page.waitForFunction(() => !document.querySelector('[data-testid=train]').disabled, null, { timeout: 60_000 });
    results.oom_error = error.split(':')[0];
    console.log(`ok - the GPU out of memory (the driver refused a 1 GiB buffer): the page says so with the advice, `
      + `that no checkpoint was saved, and a fresh trainer is ready (${lap()})`);
  } finally {
    await gpuBrowser.close();
  }
});

// ---- 5. the page as a visitor meets it: a slow link, offline, a new build ----------------------
scenario(5, async () => {
  const visitor = await launch(['--enable-unsafe-webgpu']);
  try {
    // A first visit over 20 Mbit/s with 40 ms latency (tests/browser/load.mjs measures more).
    const slow = await visitor.newContext();
    await slow.addInitScript(marks);
    throttle = link(20, 40);
    const first = await slow.newPage();
    await first.goto(`${origin}/`);
    await first.waitForFunction(() => window.__webtune_marks?.ready_ms !== undefined, null, { timeout: 300_000, polling: 200 });
    const m = await first.evaluate(() => window.__webtune_marks);
    throttle = null;
    assert.equal(m.state, 'ready');
    assert.ok(m.first_screen_ms < m.ready_ms, 'the form shows before the trainer is ready');
    Object.assign(results, { slow_first_screen_s: m.first_screen_ms / 1000, slow_ready_s: m.ready_ms / 1000 });
    console.log(`ok - over 20 Mbit/s and 40 ms: the first screen after ${(m.first_screen_ms / 1000).toFixed(2)} s, `
      + `ready after ${(m.ready_ms / 1000).toFixed(2)} s (${lap()})`);
    await slow.close();

    // A teacher's link names a preset; the page says what Train will download and, once a few steps
    // are timed here, how long it will take. "Prepare for offline" keeps the model and the data; with
    // the network off, a second visit opens the page and trains to the end, with the losses of the
    // same run online.
    fs.rmSync(distCopy, { recursive: true, force: true });
    fs.cpSync(opt.dist, distCopy, { recursive: true });
    const context = await visitor.newContext({ viewport: { width: 900, height: 1400 } });
    const page = await context.newPage();
    page.on('console', (msg) => consoleLog.write(`[offline] ${msg.type()}: ${msg.text()}\n`));
    const classLink = new URLSearchParams({ hub: '/hub', preset: 'tiny', task: 'mrpc', max_steps: '4',
      batch: opt.batch, max_eval_samples: '8', logging_steps: '2' });
    await page.goto(`${origin}/v/?${classLink}`);
    await waitState(page, 'ready', timeout);
    const tinyId = await page.inputValue('#model');
    assert.equal(await page.inputValue('[data-testid=preset]'), 'tiny', 'the link picks the preset');
    assert.match(tinyId, /^[^/]+\/[^/]+$/, 'the preset names a Hub repository');
    assert.match(await page.textContent('[data-testid=preset] option[value=tiny]'), /MB/, 'the menu says its size');
    const sizeOf = (file) => fs.statSync(file).size;
    const bigFiles = sizeOf(path.join(opt.model, 'model.safetensors'))
      + ['train', 'validation'].reduce((n, s) => n + sizeOf(path.join(parquet, `mrpc/${s}-00000-of-00001.parquet`)), 0);
    const planOf = async () => page.evaluate(() => ({ ...document.querySelector('[data-testid=plan]')?.dataset,
      text: document.querySelector('[data-testid=plan]')?.textContent }));
    await page.waitForSelector('[data-testid=plan]', { timeout: 60_000 });
    const planned = await planOf();
    // The weights and the parquet files as they are; config.json and vocab.txt as the server sends them.
    assert.ok(Number(planned.downloadBytes) >= bigFiles && Number(planned.downloadBytes) < bigFiles + 2000,
      `the plan's download: ${JSON.stringify(planned)} (weights and data: ${bigFiles} bytes)`);
    assert.equal(planned.keptBytes, '0');
    assert.equal(planned.steps, '4');
    assert.equal(planned.estimate, 'unknown', 'nothing timed here yet');
    await page.click('[data-testid=prepare]');
    await waitState(page, 'finished', timeout);
    assert.match(await page.textContent('[data-testid=status]'), /Ready for offline/);
    // The plan looks again once the form and what is kept have stopped changing.
    await page.waitForFunction(() => {
      const plan = document.querySelector('[data-testid=plan]')?.dataset;
      return plan?.estimate === 'measured' && plan?.downloadBytes === '0';
    }, null, { timeout: 30_000, polling: 200 }).catch(() => {});
    const prepared = await planOf();
    assert.equal(prepared.estimate, 'measured', `a few steps were timed: ${prepared.text}`);
    assert.equal(prepared.downloadBytes, '0', `after Prepare nothing is left to download: ${prepared.text}`);
    assert.ok(Number(prepared.keptBytes) >= bigFiles, prepared.text);
    assert.ok(Number(prepared.seconds) > 0, prepared.text);
    assert.match(await page.textContent('[data-testid=preset] option[value=minilm]'), /roughly .* here/,
      'the other presets get a time scaled from the one measured');
    await page.screenshot({ path: path.join(opt.out, 'page-prepared.png'), fullPage: true });
    await page.waitForSelector('[data-testid=offline][data-offline=true]', { timeout: 120_000 });
    await context.setOffline(true);
    await page.reload();
    await waitState(page, 'ready', timeout);
    await page.waitForFunction(() => document.querySelector('[data-testid=plan]')?.dataset.downloadBytes === '0',
      null, { timeout: 30_000, polling: 200 }).catch(() => {});
    assert.equal((await planOf()).downloadBytes, '0', `offline, the plan still finds everything kept: ${(await planOf()).text}`);
    await page.click('[data-testid=train]');
    await waitState(page, 'finished', timeout);
    assert.equal(await step(page), 4, 'the offline run reached its last step');
    assert.ok(await page.evaluate(() => !navigator.onLine), 'the browser was offline');
    const offline = await page.getAttribute('[data-testid=chart]', 'data-losses');
    await context.setOffline(false);
    await page.reload();
    await waitState(page, 'ready', timeout);
    await page.click('[data-testid=train]');
    await waitState(page, 'finished', timeout);
    assert.equal(await page.getAttribute('[data-testid=chart]', 'data-losses'), offline, 'online, the same losses');
    results.offline_plan = prepared.text;
    console.log(`ok - a preset link plans "${prepared.text}"; Prepare for offline keeps it; with the network off a `
      + `second visit trains it to the end, as online (${lap()})`);

    // A rebuilt page replaces the kept one as a whole, once the visitor takes it.
    const before = JSON.parse(fs.readFileSync(path.join(distCopy, 'webtune-build.json'), 'utf8')).version;
    fs.appendFileSync(path.join(distCopy, 'webtune-worker.js'), '\n// rebuilt\n');
    execFileSync('node', [path.join(root, 'web/postbuild.mjs'), distCopy], { stdio: 'ignore', env: { ...process.env, WEBTUNE_PRECOMPRESS: '0' } });
    const after = JSON.parse(fs.readFileSync(path.join(distCopy, 'webtune-build.json'), 'utf8')).version;
    assert.notEqual(after, before);
    await page.goto(`${origin}/v/`);
    await page.waitForSelector('[data-testid=take-update]', { timeout: 120_000 });
    const kept = await page.evaluate(() => fetch('./webtune-build.json').then((r) => r.json()).then((b) => b.version));
    assert.equal(kept, before, 'until taken, the page and its worker stay on the old build');
    await Promise.all([page.waitForEvent('load', { timeout: 120_000 }), page.click('[data-testid=take-update]')]);
    await waitState(page, 'ready', 5 * 60_000);
    const shell = await page.evaluate(async () => ({
      caches: (await caches.keys()).filter((k) => k.startsWith('webtune-shell-')),
      version: (await (await fetch('./webtune-build.json')).json()).version,
      worker: (await (await fetch('./webtune-worker.js')).text()).includes('// rebuilt'),
    }));
    assert.deepEqual(shell, { caches: [`webtune-shell-${after}`], version: after, worker: true });
    console.log(`ok - a rebuilt page is downloaded whole and replaces the kept one when taken (${lap()})`);
    await context.close();
  } finally {
    await visitor.close();
  }
});

// ---- 9. pictures: the presenter view of a shared link, and report.html from the CLI -------------
scenario(9, async () => {
  const browser = await launch(['--enable-unsafe-webgpu']);
  try {
    // The course's recipe on all-MiniLM-L6-v2 and the whole of MRPC, shown on a projector: the
    // charts first and large, the form folded, the scores drawn against PyTorch's for this recipe
    // (docs/accuracy.md) from the moment the run starts.
    const query = new URLSearchParams({ model: '/models/all-MiniLM-L6-v2', data: '/glue/MRPC', task: 'mrpc',
      view: 'present', autostart: '1' });
    const page = await open(browser, query, 'present');
    await page.waitForFunction(() => document.querySelector('[data-testid=scores-chart]')?.dataset.reference,
      null, { timeout: 60_000, polling: 250 });
    const reference = JSON.parse(await attr(page, '[data-testid=scores-chart]', 'data-reference'));
    assert.deepEqual(reference, { accuracy: 0.7985, f1: 0.8599 });
    const top = async (sel) => (await page.locator(sel).boundingBox()).y;
    assert.ok(await top('section.progress') < await top('section.settings'), 'the charts come first');
    assert.equal(await page.isVisible('section.settings .grid'), false, 'the form is folded away');
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).fontSize), '20px');
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.screenshot({ path: path.join(opt.out, 'page-present.png') });
    await page.click('[data-testid=show-settings]');
    assert.equal(await page.isVisible('section.settings .grid'), true, 'and unfolds');
    await page.context().close();
    console.log(`ok - view=present: the charts first, the form folded, PyTorch's scores for the recipe (${lap()})`);

    // report.html of a CLI run opens in Chromium with every picture, and their numbers are the
    // run's (metrics.jsonl).
    const reportRun = path.join(opt.out, 'report-run');
    fs.rmSync(reportRun, { recursive: true, force: true });
    const evalCount = Number(opt['eval-samples']);
    await webtune(['train', '--model', opt.model, '--data', nativeData(), '--backend', 'cpu',
      '--max-steps', String(steps), '--per-device-train-batch-size', opt.batch, '--logging-steps', '5', '--quiet',
      '--save-strategy', 'no', '--output-dir', reportRun], { stdio: ['ignore', 'pipe', 'ignore'] });
    const lines = fs.readFileSync(path.join(reportRun, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const logs = lines.filter((l) => 'loss' in l);
    const evals = lines.filter((l) => 'eval_accuracy' in l);
    const context = await browser.newContext({ viewport: { width: 1000, height: 1400 } });
    const report = await context.newPage();
    report.on('console', (m) => consoleLog.write(`[report] ${m.type()}: ${m.text()}\n`));
    await report.goto(`file://${path.join(reportRun, 'report.html')}`);
    const ids = await report.$$eval('[data-testid]', (els) => [...new Set(els.map((e) => e.dataset.testid))]);
    for (const id of ['summary', 'chart', 'scores-chart', 'eval-row', 'confusion', 'mistake']) assert.ok(ids.includes(id), `report.html: ${id} in ${ids}`);
    // Self-contained: nothing else loads, no script runs.
    assert.equal(await report.evaluate(() => performance.getEntriesByType('resource').length), 0);
    assert.equal(await report.$$eval('script', (els) => els.length), 0);
    const curve = JSON.parse(await report.getAttribute('[data-testid=chart]', 'data-losses'));
    // (both f32s: metrics.jsonl writes them widened to f64)
    assert.deepEqual(curve.map(([s, l]) => [s, Math.fround(l)]), logs.map((l) => [l.step, Math.fround(l.loss)]), 'report.html: the losses');
    const scores = JSON.parse(await report.getAttribute('[data-testid=scores-chart]', 'data-scores'));
    assert.deepEqual(scores.map((r) => [r.step, r.scores.accuracy, r.scores.f1]),
      evals.map((e) => [e.step, e.eval_accuracy, e.eval_f1]), 'report.html: the scores');
    const confusion = JSON.parse(await report.getAttribute('[data-testid=confusion]', 'data-counts'));
    assert.deepEqual(confusion, evals.at(-1).eval_confusion_matrix);
    assert.equal(confusion.flat().reduce((a, b) => a + b, 0), evalCount);
    const wrong = evalCount - confusion[0][0] - confusion[1][1];
    assert.ok(Math.abs(1 - wrong / evalCount - evals.at(-1).eval_accuracy) < 1e-12, 'the matrix agrees with the accuracy');
    assert.equal((await report.$$('[data-testid=mistake]')).length, Math.min(100, wrong));
    // Each chart is drawn, at a readable size.
    for (const sel of ['[data-testid=chart]', '[data-testid=scores-chart]']) {
      const box = await report.locator(sel).boundingBox();
      assert.ok(box.width >= 600 && box.height >= 200, `${sel}: ${JSON.stringify(box)}`);
    }
    await report.screenshot({ path: path.join(opt.out, 'report.png'), fullPage: true });
    await context.close();
    results.report_mistakes = wrong;
    console.log(`ok - report.html opens in Chromium with every picture, drawn from the run's numbers (${lap()})`);
  } finally {
    await browser.close();
  }
});

for (const n of cliFirst) if (only.has(n)) await scenarios.get(n)();
for (const check of cliChecks) await check();

server.close();
consoleLog.end();
results.test_seconds = (Date.now() - t0) / 1000;

// ---- the same run natively (wgpu: Vulkan, lavapipe here), for the browser/native ratio -----------
if (opt['compare-native'] === '1') {
  const out = await webtune(['train', '--model', opt.model, '--data', nativeData(), '--backend', 'wgpu',
    '--max-steps', String(steps), '--per-device-train-batch-size', opt.batch, '--logging-steps', '5', '--quiet',
    '--output-dir', path.join(opt.out, 'native-run')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const native = JSON.parse(out.trim().split('\n').at(-1));
  results.native_wgpu_steps_per_second = native.steps / native.train_runtime_s;
  results.browser_over_native = results.browser_steps_per_second / results.native_wgpu_steps_per_second;
}
console.log(JSON.stringify(results));
