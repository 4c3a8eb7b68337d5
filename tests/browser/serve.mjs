// Serving files as a static host or a CDN does, for the browser tests and the load benchmark:
// the precompressed twin a build leaves beside a file (`x.wasm.br`, `x.wasm.gz`) when the browser
// accepts its encoding, text and wasm gzipped on the fly otherwise, and optionally a slow link
// (a bandwidth shared by every response, and a latency before each) to measure what a visitor waits.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.txt': 'text/plain',
  '.webmanifest': 'application/manifest+json' };
const compressible = new Set(['.html', '.js', '.mjs', '.wasm', '.css', '.json', '.txt', '.webmanifest']);

// A link of `mbit` Mbit/s and `latencyMs` before each response's first byte; null: no limit.
export function link(mbit, latencyMs) {
  if (!mbit) return null;
  return { bytesPerMs: (mbit * 1e6) / 8 / 1000, latencyMs, free: 0 };
}

// Sends `body` through `throttle` (one link shared by all responses, so parallel downloads split
// the bandwidth as they would on a real link).
async function send(res, body, throttle) {
  if (!throttle) { res.end(body); return; }
  await new Promise((r) => setTimeout(r, throttle.latencyMs));
  const chunk = 16 * 1024;
  for (let at = 0; at < body.length; at += chunk) {
    const piece = body.subarray(at, at + chunk);
    const now = performance.now();
    throttle.free = Math.max(throttle.free, now) + piece.length / throttle.bytesPerMs;
    const wait = throttle.free - now;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}

// Answers `req` with `file` (or a 404): the `.br` or `.gz` twin where one exists and the browser
// accepts it, else gzip made now for compressible types, else the bytes as they are.
export async function serveFile(req, res, file, { throttle = null, headers = {} } = {}) {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); res.end(); return; }
  // Validators, as every static host sends: a second visit revalidates instead of downloading.
  const stat = fs.statSync(file);
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  if (req.headers['if-none-match'] === etag) { res.writeHead(304, { etag }); res.end(); return; }
  headers = { ...headers, etag, 'cache-control': 'no-cache' };
  const ext = path.extname(file);
  const accept = String(req.headers['accept-encoding'] || '');
  let body;
  let encoding = null;
  if (/\bbr\b/.test(accept) && fs.existsSync(`${file}.br`)) { body = fs.readFileSync(`${file}.br`); encoding = 'br'; }
  else if (/\bgzip\b/.test(accept) && fs.existsSync(`${file}.gz`)) { body = fs.readFileSync(`${file}.gz`); encoding = 'gzip'; }
  else {
    body = fs.readFileSync(file);
    // Level 6, a CDN's usual on-the-fly setting.
    if (/\bgzip\b/.test(accept) && compressible.has(ext)) { body = zlib.gzipSync(body, { level: 6 }); encoding = 'gzip'; }
  }
  sendBody(req, res, body, types[ext], { throttle, headers: { ...headers, ...(encoding ? { 'content-encoding': encoding } : {}) } });
}

export function sendBody(req, res, body, type, { throttle = null, headers = {} } = {}) {
  res.writeHead(200, { 'content-type': type || 'application/octet-stream', 'content-length': body.length,
    vary: 'accept-encoding', ...headers });
  if (req.method === 'HEAD') { res.end(); return; }
  send(res, body, throttle).catch(() => res.destroy());
}

// `file` under `dir` from a URL path relative to it, or null when it would leave `dir`.
export function inside(dir, rel) {
  const file = path.join(dir, decodeURIComponent(rel) || 'index.html');
  return file.startsWith(dir) ? file : null;
}
