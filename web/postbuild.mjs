// Trunk's post_build hook (Trunk.toml), run on the finished page before it replaces dist/:
//  - `sw.js`, the service worker (web/sw.js with this build's file list and version written in), so
//    a second visit works offline and a new build replaces the kept files as a whole;
//  - `webtune-build.json`, the same list with each file's size (the page shows the trainer's
//    download as "3.1 of 7.9 MB" from it);
//  - a brotli (`.br`) and a gzip (`.gz`) twin of every text and wasm file, for hosts that send
//    precompressed files (README.md, "Putting the page on a web host").
// Node's own zlib does both compressions, so the build needs no other tool.
//
//   node web/postbuild.mjs [DIR]     (DIR: Trunk's staging folder, or a built dist/)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dir = path.resolve(process.argv[2] || process.env.TRUNK_STAGING_DIR || 'dist');
const here = path.dirname(fileURLToPath(import.meta.url));
const compressible = /\.(html|js|mjs|css|wasm|json|webmanifest|svg|txt)$/;
const generated = new Set(['sw.js', 'webtune-build.json']);

for (const f of fs.readdirSync(dir)) {
  if (/\.(br|gz)$/.test(f) || generated.has(f)) fs.rmSync(path.join(dir, f));
}
const files = fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
const hash = crypto.createHash('sha256');
const sizes = {};
for (const f of files) {
  const bytes = fs.readFileSync(path.join(dir, f));
  hash.update(`${f}\0${bytes.length}\0`).update(bytes);
  sizes[f] = bytes.length;
}
const version = hash.digest('hex').slice(0, 16);
const build = { version, files: sizes };
fs.writeFileSync(path.join(dir, 'webtune-build.json'), JSON.stringify(build));
const template = fs.readFileSync(path.join(here, 'sw.js'), 'utf8');
if (!template.includes('__WEBTUNE_BUILD__')) throw new Error('web/sw.js lacks the __WEBTUNE_BUILD__ placeholder');
// The shell: everything the page and the worker load, and the build list itself.
const shell = { version, files: [...files, 'webtune-build.json'] };
fs.writeFileSync(path.join(dir, 'sw.js'), template.replace('__WEBTUNE_BUILD__', JSON.stringify(shell)));

let raw = 0, br = 0, gz = 0;
// WEBTUNE_PRECOMPRESS=0: no twins (the browser test's quick rebuild; a host then compresses or not).
const precompress = process.env.WEBTUNE_PRECOMPRESS !== '0';
const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);
// zlib's asynchronous calls run on libuv's threads: every file and both encodings at once.
await Promise.all(fs.readdirSync(dir).filter((f) => precompress && compressible.test(f)).map(async (f) => {
  const file = path.join(dir, f);
  const bytes = fs.readFileSync(file);
  const [b, g] = await Promise.all([
    brotli(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }),
    gzip(bytes, { level: 9 })]);
  fs.writeFileSync(`${file}.br`, b);
  fs.writeFileSync(`${file}.gz`, g);
  raw += bytes.length; br += b.length; gz += g.length;
}));
const mb = (n) => (n / 1e6).toFixed(2);
console.log(`postbuild: build ${version}: ${files.length} files, ${mb(raw)} MB raw, ${mb(br)} MB brotli, ${mb(gz)} MB gzip`);
