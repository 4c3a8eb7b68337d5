//! What WebGPU offers in this browser, asked the way the page would (burn asks again for its own
//! device; it already requests the adapter's own limits, not WebGPU's defaults).

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use webtune::train::memory::MemoryLimits;

use crate::protocol::AdapterInfo;

pub const NO_WEBGPU: &str = "This browser does not offer WebGPU, which training needs. Use Chrome or Edge 113 or \
later on Windows, macOS or ChromeOS (on Linux, start Chrome with --enable-unsafe-webgpu \
--enable-features=Vulkan, or enable chrome://flags/#enable-unsafe-webgpu), Safari 26 or later, or \
Firefox 141 or later on Windows (Firefox Nightly elsewhere).";

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn text(target: &JsValue, key: &str) -> String {
    get(target, key).as_string().unwrap_or_default()
}

pub async fn adapter_info() -> Result<AdapterInfo, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err(NO_WEBGPU.into());
    }
    let request: Function = get(&gpu, "requestAdapter").dyn_into().map_err(|_| NO_WEBGPU.to_string())?;
    let promise: Promise = request.call0(&gpu).map_err(|e| format!("requestAdapter failed: {e:?}"))?.unchecked_into();
    let adapter = JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err(format!("WebGPU is present but offered no GPU adapter (it may be blocklisted for this GPU). {NO_WEBGPU}"));
    }
    let info = get(&adapter, "info");
    let limits = get(&adapter, "limits");
    let features = get(&adapter, "features");
    let shader_f16 = get(&features, "has")
        .dyn_into::<Function>()
        .ok()
        .and_then(|has| has.call1(&features, &JsValue::from_str("shader-f16")).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok(AdapterInfo {
        vendor: text(&info, "vendor"),
        architecture: text(&info, "architecture"),
        device: text(&info, "device"),
        description: text(&info, "description"),
        max_buffer_size: get(&limits, "maxBufferSize").as_f64().unwrap_or(0.0),
        max_storage_buffer_binding_size: get(&limits, "maxStorageBufferBindingSize").as_f64().unwrap_or(0.0),
        shader_f16,
        device_memory_gib: get(&navigator, "deviceMemory").as_f64(),
    })
}

/// The limits a run is checked against: the largest buffer the adapter binds, and the memory the
/// browser admits to. Browsers round `deviceMemory` down and cap it at 8 GiB, so 8 means "8 or
/// more" and is no limit.
pub fn memory_limits(info: &AdapterInfo) -> MemoryLimits {
    let buffer = info.max_buffer_size.min(info.max_storage_buffer_binding_size);
    MemoryLimits {
        max_buffer_bytes: (buffer > 0.0).then_some(buffer as u64),
        total_bytes: info
            .device_memory_gib
            .filter(|&g| g < 8.0)
            .map(|g| (g * 1024.0 * 1024.0 * 1024.0) as u64),
    }
}
