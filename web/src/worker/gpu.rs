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

/// Makes burn's WGSL acceptable to a browser's WebGPU, and reports a lost device to the page. Runs
/// before burn creates its device.
/// - burn's kernels (cubecl) read the subgroup size, which in a browser needs `enable subgroups;`,
///   which the device accepts only if created with the `subgroups` feature; wgpu's WebGPU backend
///   never asks for it. So every device this worker creates asks for it when the adapter has it.
/// - Some matmul kernels call subgroup operations under conditions that Tint's uniformity analysis
///   cannot prove uniform (native Vulkan/Metal compilers do not check this), so the shaders that
///   use subgroups get `diagnostic(off, subgroup_uniformity);`, the WGSL switch for that check.
pub fn request_subgroups() {
    const PATCH: &str = r#"
        const proto = self.GPUAdapter && self.GPUAdapter.prototype;
        if (proto && !proto.webtuneSubgroups) {
            const requestDevice = proto.requestDevice;
            proto.requestDevice = function (descriptor) {
                const d = Object.assign({}, descriptor || {});
                const features = new Set(d.requiredFeatures || []);
                if (this.features.has('subgroups')) features.add('subgroups');
                d.requiredFeatures = [...features];
                return requestDevice.call(this, d).then((device) => {
                    // A lost device (a driver reset, a laptop's GPU switched off, or destroyed) fails
                    // every later step, and the worker keeps it: the page must replace the worker.
                    // The message is the protocol's `FromWorker::Failed { fatal: true }`.
                    device.lost.then((info) => self.postMessage([JSON.stringify({ Failed: {
                        message: `the GPU was lost (${info.message || info.reason}); a new trainer starts`,
                        fatal: true,
                    } })]));
                    return device;
                });
            };
            proto.webtuneSubgroups = true;
            // The browser test's handle on the real devices (`test_hooks=1` in the page's URL, passed
            // on in the worker's): it destroys them to provoke a lost GPU.
            if (new URLSearchParams(self.location.search).has('test_hooks')) {
                self.webtuneDevices = [];
                const request = proto.requestDevice;
                proto.requestDevice = function (descriptor) {
                    return request.call(this, descriptor).then((device) => {
                        self.webtuneDevices.push(device);
                        return device;
                    });
                };
            }
        }
        const device = self.GPUDevice && self.GPUDevice.prototype;
        if (device && !device.webtuneUniformity) {
            const createShaderModule = device.createShaderModule;
            device.createShaderModule = function (descriptor) {
                if (descriptor && typeof descriptor.code === 'string' && descriptor.code.includes('enable subgroups;')) {
                    descriptor = Object.assign({}, descriptor, {
                        code: 'diagnostic(off, subgroup_uniformity);\n' + descriptor.code,
                    });
                }
                return createShaderModule.call(this, descriptor);
            };
            device.webtuneUniformity = true;
        }
    "#;
    if let Err(e) = Function::new_no_args(PATCH).call0(&JsValue::UNDEFINED) {
        web_sys::console::warn_2(&"webtune: could not ask WebGPU for subgroups".into(), &e);
    }
}

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
    let has = |name: &str| {
        get(&features, "has")
            .dyn_into::<Function>()
            .ok()
            .and_then(|has| has.call1(&features, &JsValue::from_str(name)).ok())
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    Ok(AdapterInfo {
        vendor: text(&info, "vendor"),
        architecture: text(&info, "architecture"),
        device: text(&info, "device"),
        description: text(&info, "description"),
        max_buffer_size: get(&limits, "maxBufferSize").as_f64().unwrap_or(0.0),
        max_storage_buffer_binding_size: get(&limits, "maxStorageBufferBindingSize").as_f64().unwrap_or(0.0),
        shader_f16: has("shader-f16"),
        subgroups: has("subgroups"),
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
