//! The plan line's browser side (`crate::plan` does the arithmetic): the sizes of a run's files, from
//! the browser's cache where the worker kept them or from the server's answer to a HEAD request,
//! and the training speeds measured on this device, kept in `localStorage` per adapter.

use std::collections::HashMap;

use leptos::prelude::window;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Cache, RequestInit, Response};
use webtune::data::{Split, Task};

use crate::plan::{Speed, record};
use crate::protocol::{AdapterInfo, MODEL_CACHE, RunRequest, Source};

/// One file a run reads.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFile {
    pub name: String,
    /// `None`: the server could not be asked (offline) or did not say.
    pub bytes: Option<u64>,
    /// In the browser's cache already: the run reads it from there.
    pub kept: bool,
    /// The server says it does not have this file, which the run needs: Train will fail.
    pub missing: bool,
}

impl PlannedFile {
    fn missing(name: &str) -> PlannedFile {
        PlannedFile { name: name.to_string(), bytes: None, kept: false, missing: true }
    }
}

async fn open_cache() -> Option<Cache> {
    let storage = window().caches().ok()?;
    JsFuture::from(storage.open(MODEL_CACHE)).await.ok().map(|c| c.unchecked_into())
}

fn content_length(response: &Response) -> Option<u64> {
    response.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok())
}

/// `url`'s size, kept or announced; `None` where it does not exist (an optional file, or a kept
/// 404 the worker wrote for one).
async fn probe(cache: Option<&Cache>, url: &str, name: &str) -> Option<PlannedFile> {
    if let Some(cache) = cache {
        if let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await {
            if let Ok(response) = hit.dyn_into::<Response>() {
                if response.status() == 404 {
                    return None;
                }
                // A kept body is a blob on disk: its size is known without reading it.
                let bytes = match content_length(&response) {
                    Some(n) => Some(n),
                    None => match response.blob() {
                        Ok(p) => JsFuture::from(p).await.ok().map(|b| b.unchecked_into::<Blob>().size() as u64),
                        Err(_) => None,
                    },
                };
                return Some(PlannedFile { name: name.to_string(), bytes, kept: true, missing: false });
            }
        }
    }
    let init = RequestInit::new();
    init.set_method("HEAD");
    match JsFuture::from(window().fetch_with_str_and_init(url, &init)).await {
        Ok(r) => {
            let response: Response = r.unchecked_into();
            if response.status() == 404 {
                return None;
            }
            let bytes = if response.ok() { content_length(&response) } else { None };
            Some(PlannedFile { name: name.to_string(), bytes, kept: false, missing: false })
        }
        Err(_) => Some(PlannedFile { name: name.to_string(), bytes: None, kept: false, missing: false }),
    }
}

/// The files `request`'s run reads from the network or the cache, as the worker's `session.rs`
/// asks for them (picked files are not downloaded).
pub async fn files(request: &RunRequest) -> Vec<PlannedFile> {
    let cache = open_cache().await;
    let cache = cache.as_ref();
    let mut out = Vec::new();
    let hub = request.hub.as_str();
    if let Source::Hub(_) | Source::Url(_) = &request.model {
        let url = |file: &str| request.model.file_url(hub, file, None).unwrap_or_default();
        let required = async |name: &str| probe(cache, &url(name), name).await.unwrap_or_else(|| PlannedFile::missing(name));
        out.push(required("config.json").await);
        match probe(cache, &url("tokenizer.json"), "tokenizer.json").await {
            Some(f) => out.push(f),
            None => out.push(required("vocab.txt").await),
        }
        out.extend(probe(cache, &url("tokenizer_config.json"), "tokenizer_config.json").await);
        out.push(required("model.safetensors").await);
    }
    if let Ok(task) = Task::parse(&request.task) {
        for &split in std::iter::once(&Split::Train).chain(task.validation_splits()) {
            let (name, dir) = match &request.data {
                Source::Hub(_) => (task.hub_file(split), Some(task.hub_dir())),
                Source::Url(_) => (task.file_name(split), None),
                Source::Files => continue,
            };
            if let Some(url) = request.data.file_url(hub, name, dir) {
                out.push(probe(cache, &url, name).await.unwrap_or_else(|| PlannedFile::missing(name)));
            }
        }
    }
    out
}

const SPEEDS: &str = "webtune-speeds";

fn adapter_key(a: &AdapterInfo) -> String {
    format!("{} {} {} {}", a.vendor, a.architecture, a.device, a.description).trim().to_string()
}

fn all_speeds() -> HashMap<String, Vec<Speed>> {
    let stored = window().local_storage().ok().flatten().and_then(|s| s.get_item(SPEEDS).ok().flatten());
    stored.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default()
}

/// The speeds measured with this adapter.
pub fn speeds(adapter: &AdapterInfo) -> Vec<Speed> {
    all_speeds().remove(&adapter_key(adapter)).unwrap_or_default()
}

/// Keeps `model`'s speed with this adapter; returns the adapter's speeds.
pub fn remember(adapter: &AdapterInfo, model: &str, samples_per_s: f64) -> Vec<Speed> {
    let mut all = all_speeds();
    let list = all.entry(adapter_key(adapter)).or_default();
    record(list, model, samples_per_s);
    let list = list.clone();
    // A full or disabled storage only costs the next visit its estimate.
    if let (Some(storage), Ok(json)) = (window().local_storage().ok().flatten(), serde_json::to_string(&all)) {
        let _ = storage.set_item(SPEEDS, &json);
    }
    list
}
