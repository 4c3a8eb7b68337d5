// The training worker's entry (the page starts `new Worker('./webtune-worker-loader.js')`): loads
// the trainer's wasm by streaming compilation, compiling while it downloads, and tells the page how
// far the download is, so the form is usable at once and the page can say "loading the trainer:
// 3.1 of 7.9 MB". Replaces Trunk's loader shim, which reports nothing. The message has the shape
// of the protocol's `FromWorker::LoadingTrainer` (web/src/bridge.rs: a JSON string in an array).
importScripts('./webtune-worker.js');
const WASM = 'webtune-worker_bg.wasm';
const report = (loaded, total) => postMessage([JSON.stringify({ LoadingTrainer: { loaded, total } })]);
(async () => {
  // The size before compression, written by web/postbuild.mjs (a compressed response's
  // Content-Length counts other bytes than the stream yields).
  const total = await fetch('./webtune-build.json').then((r) => r.json()).then((b) => b.files[WASM] ?? null, () => null);
  const response = await fetch(`./${WASM}`);
  if (!response.ok) throw new Error(`${WASM}: HTTP ${response.status}`);
  let loaded = 0;
  let reported = 0;
  report(0, total);
  const counted = response.body.pipeThrough(new TransformStream({
    transform(chunk, out) {
      loaded += chunk.byteLength;
      if (loaded - reported >= 256 * 1024) { reported = loaded; report(loaded, total); }
      out.enqueue(chunk);
    },
    flush() { report(loaded, total); },
  }));
  await wasm_bindgen({ module_or_path: new Response(counted, { headers: { "content-type": "application/wasm" } }) });
})().catch((e) => {
  // An error thrown here would only reach the console; the page hears of it as the worker's death.
  setTimeout(() => { throw new Error(`the trainer could not load: ${e.message || e}`); });
});
