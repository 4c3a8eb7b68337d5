//! Bytes from a URL, with download progress for the page, and the Cache API: model weights are
//! read from it when there (a reload does not download them again), the smaller files of a model
//! and a dataset when the network cannot be reached (a class without Wi-Fi trains what it has).
//! A broken connection is tried again, from where it broke where the server allows ranges.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use gloo_timers::future::TimeoutFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, ReadableStreamReadResult, Response, WorkerGlobalScope};

use super::post;
use crate::protocol::{FromWorker, MODEL_CACHE};

pub enum FetchError {
    /// HTTP 404: the file is optional, or the message names it.
    NotFound(String),
    Failed(String),
}

impl FetchError {
    pub fn into_message(self) -> String {
        match self {
            FetchError::NotFound(m) | FetchError::Failed(m) => m,
        }
    }
}

fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

async fn open_cache() -> Option<Cache> {
    let storage = scope().caches().ok()?;
    JsFuture::from(storage.open(MODEL_CACHE)).await.ok().map(|c| c.unchecked_into())
}

/// Whether, and how, a download is kept in the browser's cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    No,
    /// Read from the cache when it holds the file (large files that do not change: weights).
    First,
    /// Read from the network, kept; the kept copy is read when the network cannot be reached
    /// (small files that may change: config, tokenizer, data).
    Fallback,
}

/// Forgets every cached model file.
pub async fn clear_cache() {
    if let Ok(storage) = scope().caches() {
        let _ = JsFuture::from(storage.delete(MODEL_CACHE)).await;
    }
}

/// The kept copy of `url`: its bytes, or `NotFound` where the server said 404 when it was asked (an
/// optional file, such as `tokenizer.json` beside `vocab.txt`, must be absent offline too). A copy
/// shorter than the length kept with it is no copy: it is deleted and downloaded again.
async fn cached(cache: &Cache, url: &str, file: &str) -> Option<Result<Vec<u8>, FetchError>> {
    let hit = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response = hit.dyn_into::<Response>().ok()?;
    if response.status() == 404 {
        return Some(Err(not_found(url)));
    }
    let length = content_length(&response);
    let mut bytes = Vec::new();
    let whole = read_into(&response, &mut bytes, file, true, length).await.is_ok()
        && length.is_none_or(|n| bytes.len() as u64 == n);
    if !whole {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
        return None;
    }
    Some(Ok(bytes))
}

fn not_found(url: &str) -> FetchError {
    FetchError::NotFound(format!("{url}: not found (HTTP 404)"))
}

async fn keep_copy(cache: &Cache, url: &str, copy: Result<Response, JsValue>) {
    // A full quota only costs the next visit a download.
    if let Ok(copy) = copy {
        if let Err(e) = JsFuture::from(cache.put_with_str(url, &copy)).await {
            web_sys::console::warn_2(&"webtune: could not cache".into(), &e);
        }
    }
}

/// A whole download, kept with its length (`cached` checks it).
fn kept_copy(bytes: &mut [u8]) -> Result<Response, JsValue> {
    let init = web_sys::ResponseInit::new();
    let headers = web_sys::Headers::new()?;
    headers.set("content-length", &bytes.len().to_string())?;
    init.set_headers(&headers);
    Response::new_with_opt_u8_array_and_init(Some(bytes), &init)
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

/// The body's length as sent; `None` when the server compresses (the body arrives decompressed).
fn content_length(response: &Response) -> Option<u64> {
    if header(response, "content-encoding").is_some() {
        return None;
    }
    header(response, "content-length").and_then(|v| v.trim().parse().ok())
}

/// A 206's `Content-Range: bytes START-END/TOTAL`: the start and, when told, the whole length.
fn content_range(response: &Response) -> Option<(u64, Option<u64>)> {
    let value = header(response, "content-range")?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// Tries of one download before it fails; the waits between them double from 1 s. A laptop's Wi-Fi
/// that drops for a few seconds costs a retry, not the run.
const TRIES: u32 = 4;

/// GET `url`, or its bytes from `from` on (an HTTP Range request) when `from` > 0.
async fn request(url: &str, from: usize) -> Result<Response, JsValue> {
    let init = web_sys::RequestInit::new();
    if from > 0 {
        let headers = web_sys::Headers::new()?;
        headers.set("range", &format!("bytes={from}-"))?;
        init.set_headers(&headers);
    }
    JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await.map(JsCast::unchecked_into)
}

/// GETs `url`; `file` names it in progress messages; `keep` says how the Cache API keeps it. A
/// connection that breaks is tried again, going on from the bytes already read where the server
/// allows ranges; only a whole file enters the cache.
pub async fn fetch(url: &str, file: &str, keep: Keep) -> Result<Vec<u8>, FetchError> {
    let cache = if keep == Keep::No { None } else { open_cache().await };
    if let (Some(c), Keep::First) = (&cache, keep) {
        if let Some(Ok(bytes)) = cached(c, url, file).await {
            return Ok(bytes);
        }
    }
    let mut bytes = Vec::new();
    // The whole file's length, once a response has said it.
    let mut length: Option<u64> = None;
    // Whether the bytes so far can be continued with a Range request: not after a compressed
    // response, whose byte offsets are the compressed ones.
    let mut resumable = false;
    let mut broke = String::new();
    for attempt in 1..=TRIES {
        if attempt > 1 {
            if !resumable {
                bytes.clear();
            }
            let wait_s = 1u32 << (attempt - 2);
            let from = if bytes.is_empty() { String::new() } else { format!(" from byte {}", bytes.len()) };
            post(
                &FromWorker::Warning(format!("{file}: {broke}; trying again in {wait_s} s{from} (try {attempt} of {TRIES})")),
                &Vec::new(),
            );
            TimeoutFuture::new(wait_s * 1000).await;
        }
        let response = match request(url, bytes.len()).await {
            Ok(r) => r,
            Err(e) => {
                // Offline (or the server is unreachable): the copy kept from an earlier visit.
                if let (Some(c), Keep::Fallback, 1) = (&cache, keep, attempt) {
                    if let Some(kept) = cached(c, url, file).await {
                        return kept;
                    }
                }
                broke = format!("the server could not be reached ({})", js_text(&e));
                continue;
            }
        };
        match response.status() {
            404 => {
                if let (Some(c), Keep::Fallback) = (&cache, keep) {
                    let init = web_sys::ResponseInit::new();
                    init.set_status(404);
                    keep_copy(c, url, Response::new_with_opt_str_and_init(None, &init)).await;
                }
                return Err(not_found(url));
            }
            206 => match content_range(&response) {
                Some((start, total)) if start == bytes.len() as u64 && header(&response, "content-encoding").is_none() => {
                    length = total.or(length);
                }
                _ => {
                    // Not the range asked for: start over.
                    (resumable, broke) = (false, "the server answered with another range".into());
                    continue;
                }
            },
            200..=299 => {
                // The whole file (the first try, or a server that ignores ranges).
                bytes.clear();
                length = content_length(&response);
            }
            status if status >= 500 => {
                broke = format!("HTTP {status} {}", response.status_text());
                continue;
            }
            status => return Err(FetchError::Failed(format!("{url}: HTTP {status} {}", response.status_text()))),
        }
        resumable = header(&response, "content-encoding").is_none();
        if let Err(e) = read_into(&response, &mut bytes, file, false, length).await {
            broke = e;
            continue;
        }
        if let Some(n) = length.filter(|&n| bytes.len() as u64 != n) {
            broke = format!("the download stopped at {} of {n} bytes", bytes.len());
            continue;
        }
        if let Some(c) = &cache {
            keep_copy(c, url, kept_copy(&mut bytes)).await;
        }
        return Ok(bytes);
    }
    Err(FetchError::Failed(format!(
        "{url}: could not download after {TRIES} tries ({broke}); the server may be down, or may not allow \
         cross-origin requests (CORS)"
    )))
}

/// Reads a body chunk by chunk onto `bytes`, reporting progress about every 1% of `total` (the whole
/// file, when known).
async fn read_into(response: &Response, bytes: &mut Vec<u8>, file: &str, cached: bool, total: Option<u64>) -> Result<(), String> {
    let report = |loaded: usize| {
        post(&FromWorker::Download { file: file.to_string(), loaded: loaded as u64, total, cached }, &Vec::new());
    };
    let Some(body) = response.body() else {
        report(bytes.len());
        return Ok(());
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    bytes.reserve(total.unwrap_or(0).saturating_sub(bytes.len() as u64) as usize);
    let step = total.map(|t| (t / 100).max(1 << 16)).unwrap_or(1 << 20) as usize;
    let mut next_report = 0;
    loop {
        let chunk: ReadableStreamReadResult = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("the connection broke after {} bytes ({})", bytes.len(), js_text(&e)))?
            .unchecked_into();
        if chunk.get_done().unwrap_or(false) {
            break;
        }
        let data: Uint8Array = chunk.get_value().unchecked_into();
        let start = bytes.len();
        bytes.resize(start + data.length() as usize, 0);
        data.copy_to(&mut bytes[start..]);
        if bytes.len() >= next_report {
            report(bytes.len());
            next_report = bytes.len() + step;
        }
    }
    report(bytes.len());
    Ok(())
}
