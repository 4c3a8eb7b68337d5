// The page's service worker: keeps this build's files (the "shell": html, js, wasm, css) so that a
// second visit opens, and trains, with the network off. web/postbuild.mjs writes the build's
// version and file list into BUILD below.
//
// One cache per build, named by its version. A new build is downloaded whole into its own cache
// while the old build keeps serving its pages; it takes over only when the page asks (after the
// visitor accepts, or when no old page is open), and then the old cache is deleted. So a page of
// one build never talks to a worker of another. Models and datasets are not the shell: the
// trainer keeps those in its own cache (web/src/worker/fetch.rs).
const BUILD = __WEBTUNE_BUILD__;
const SHELL = `webtune-shell-${BUILD.version}`;
const PREFIX = 'webtune-shell-';

self.addEventListener('install', (event) => {
  // `reload`: from the server, never from the HTTP cache, which may hold another build's file.
  event.waitUntil(caches.open(SHELL).then((cache) =>
    cache.addAll(BUILD.files.map((f) => new Request(f, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('message', (event) => {
  if (event.data === 'webtune:activate') self.skipWaiting();
  if (event.data === 'webtune:version') event.source?.postMessage({ webtune_version: BUILD.version });
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const name = url.pathname.slice(scope.pathname.length) || 'index.html';
  if (!BUILD.files.includes(name)) return;
  event.respondWith(caches.open(SHELL)
    .then((cache) => cache.match(name))
    .then((hit) => hit || fetch(request)));
});
