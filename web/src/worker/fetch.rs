//! Bytes from a URL, with download progress for the page, and the Cache API: model weights are
//! read from it when there (a reload does not download them again), the smaller files of a model
//! and a dataset when the network cannot be reached (a class without Wi-Fi trains what it has).

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
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
/// optional file, such as `tokenizer.json` beside `vocab.txt`, must be absent offline too).
async fn cached(cache: &Cache, url: &str, file: &str) -> Option<Result<Vec<u8>, FetchError>> {
    let hit = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response = hit.dyn_into::<Response>().ok()?;
    if response.status() == 404 {
        return Some(Err(not_found(url)));
    }
    read_all(&response, file, true).await.ok().map(Ok)
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

/// GETs `url`; `file` names it in progress messages; `keep` says how the Cache API keeps it.
pub async fn fetch(url: &str, file: &str, keep: Keep) -> Result<Vec<u8>, FetchError> {
    let cache = if keep == Keep::No { None } else { open_cache().await };
    if let (Some(c), Keep::First) = (&cache, keep) {
        if let Some(Ok(bytes)) = cached(c, url, file).await {
            return Ok(bytes);
        }
    }
    let failed = |e: JsValue| {
        FetchError::Failed(format!(
            "{url}: could not download ({}); the server may be down, or may not allow cross-origin requests (CORS)",
            js_text(&e)
        ))
    };
    let response: Response = match JsFuture::from(scope().fetch_with_str(url)).await {
        Ok(r) => r.unchecked_into(),
        Err(e) => {
            // Offline (or the server is unreachable): the copy kept from an earlier visit.
            if let (Some(c), Keep::Fallback) = (&cache, keep) {
                if let Some(kept) = cached(c, url, file).await {
                    return kept;
                }
            }
            return Err(failed(e));
        }
    };
    if response.status() == 404 {
        if let (Some(c), Keep::Fallback) = (&cache, keep) {
            let init = web_sys::ResponseInit::new();
            init.set_status(404);
            keep_copy(c, url, Response::new_with_opt_str_and_init(None, &init)).await;
        }
        return Err(not_found(url));
    }
    if !response.ok() {
        return Err(FetchError::Failed(format!("{url}: HTTP {} {}", response.status(), response.status_text())));
    }
    let mut bytes = read_all(&response, file, false).await.map_err(|e| FetchError::Failed(format!("{url}: {e}")))?;
    if let Some(c) = &cache {
        keep_copy(c, url, Response::new_with_opt_u8_array(Some(&mut bytes))).await;
    }
    Ok(bytes)
}

/// Reads a body chunk by chunk, reporting progress about every 1%.
async fn read_all(response: &Response, file: &str, cached: bool) -> Result<Vec<u8>, String> {
    // Content-Length counts the compressed bytes when the server compresses, and the body arrives
    // decompressed: then the total is not known (it would read "681 B of 358 B").
    let compressed = response.headers().get("content-encoding").ok().flatten().is_some();
    let total: Option<u64> = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .filter(|_| !compressed);
    let report = |loaded: u64| {
        post(&FromWorker::Download { file: file.to_string(), loaded, total, cached }, &Vec::new());
    };
    let Some(body) = response.body() else {
        report(0);
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0) as usize);
    let step = total.map(|t| (t / 100).max(1 << 16)).unwrap_or(1 << 20);
    let mut next_report = 0u64;
    report(0);
    loop {
        let chunk: ReadableStreamReadResult = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("the download broke off after {} bytes ({})", bytes.len(), js_text(&e)))?
            .unchecked_into();
        if chunk.get_done().unwrap_or(false) {
            break;
        }
        let data: Uint8Array = chunk.get_value().unchecked_into();
        let start = bytes.len();
        bytes.resize(start + data.length() as usize, 0);
        data.copy_to(&mut bytes[start..]);
        if bytes.len() as u64 >= next_report {
            report(bytes.len() as u64);
            next_report = bytes.len() as u64 + step;
        }
    }
    if let Some(t) = total {
        if (bytes.len() as u64) < t {
            return Err(format!("the download stopped at {} of {t} bytes", bytes.len()));
        }
    }
    report(bytes.len() as u64);
    Ok(bytes)
}
