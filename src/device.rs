//! Which backend runs the tensors. The only place that knows how each one starts.

use burn::tensor::Device;

use crate::error::{Error, Result};
use crate::train::memory::MemoryLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Vulkan, Metal, DX12 natively; WebGPU in the browser.
    Wgpu,
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
    /// burn's CUDA backend (cargo feature `cuda`).
    Cuda,
}

impl Backend {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "wgpu" => Ok(Backend::Wgpu),
            "cpu" => Ok(Backend::Cpu),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(Error::Invalid(format!("unknown backend `{name}` (expected wgpu, cpu or cuda)"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Wgpu => "wgpu",
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Starts the backend and returns its device (without autodiff).
    pub async fn init(self) -> Result<Device> {
        let fail = |reason: String| Error::Backend { backend: self.name().into(), reason };
        match self {
            Backend::Wgpu => wgpu_device().await.map_err(fail),
            Backend::Cpu => cpu_device().ok_or_else(|| fail("this build has no CPU backend".into())),
            Backend::Cuda => cuda_device(0).map_err(fail),
        }
    }
}

/// One device of a data-parallel run (`--devices`): `cpu`, `wgpu`, `cuda` or `cuda:N` (a local GPU),
/// or `ws://host:port` (device 0 of the burn server there, see `webtune serve`), or
/// `ws://host:port#N` for its device N.
pub async fn open(spec: &str) -> Result<Device> {
    let spec = spec.trim();
    if spec.starts_with("ws://") || spec.starts_with("wss://") {
        return remote_device(spec).await;
    }
    if let Some(index) = spec.strip_prefix("cuda:") {
        let index: usize = index
            .parse()
            .map_err(|_| Error::Invalid(format!("device `{spec}`: expected cuda:N with N a number")))?;
        return cuda_device(index).map_err(|reason| Error::Backend { backend: spec.into(), reason });
    }
    Backend::parse(spec)
        .map_err(|_| Error::Invalid(format!("device `{spec}`: expected cpu, wgpu, cuda, cuda:N or ws://host:port")))?
        .init()
        .await
}

#[cfg(all(feature = "remote", not(target_arch = "wasm32")))]
async fn remote_device(spec: &str) -> Result<Device> {
    use burn::remote::RemoteHost;
    let (url, index) = match spec.rsplit_once('#') {
        Some((url, n)) => {
            let n: usize = n.parse().map_err(|_| Error::Invalid(format!("device `{spec}`: `#{n}` is not a device number")))?;
            (url, n)
        }
        None => (spec, 0),
    };
    Device::remote_options(&RemoteHost::websocket(url))
        .device_index(index)
        .init_async()
        .await
        .map_err(|e| Error::Backend {
            backend: spec.into(),
            reason: format!("{e} (is `webtune serve` running there?)"),
        })
}

#[cfg(not(all(feature = "remote", not(target_arch = "wasm32"))))]
async fn remote_device(spec: &str) -> Result<Device> {
    Err(Error::Backend { backend: spec.into(), reason: "this build has no remote devices (cargo feature `remote`)".into() })
}

/// What the wgpu device this process opened can hold, by the limits it was created with.
#[cfg(feature = "wgpu")]
static WGPU_LIMITS: std::sync::OnceLock<(Device, MemoryLimits)> = std::sync::OnceLock::new();

#[cfg(feature = "wgpu")]
async fn wgpu_device() -> std::result::Result<Device, String> {
    let (device, setup) = Device::wgpu_options().init_with_setup_async().await.map_err(|e| e.to_string())?;
    let limits = setup.device.limits();
    let _ = WGPU_LIMITS.set((
        device.clone(),
        MemoryLimits {
            // burn's pages are capped by both (cubecl-wgpu sizes them so).
            max_buffer_bytes: Some(limits.max_buffer_size.min(limits.max_storage_buffer_binding_size)),
            // wgpu reports no memory size.
            total_bytes: None,
        },
    ));
    Ok(device)
}

/// The limits a run on `device` is checked against before its first step
/// (`train::memory::check_fits`): a tensor past them fails only when its step runs, after
/// the whole step was queued (a minute on a software GPU), as "can't allocate buffer".
/// Nothing is known of the CPU, CUDA and remote devices, and nothing is checked there.
pub fn memory_limits(device: &Device) -> MemoryLimits {
    #[cfg(feature = "wgpu")]
    if let Some((wgpu, limits)) = WGPU_LIMITS.get()
        && wgpu == device
    {
        return *limits;
    }
    let _ = device;
    MemoryLimits::default()
}

#[cfg(not(feature = "wgpu"))]
async fn wgpu_device() -> std::result::Result<Device, String> {
    Err("this build has no wgpu support (cargo feature `wgpu`)".into())
}

#[cfg(not(target_arch = "wasm32"))]
fn cpu_device() -> Option<Device> {
    Some(Device::flex())
}

#[cfg(target_arch = "wasm32")]
fn cpu_device() -> Option<Device> {
    None
}

/// Whether tensors on `device` (with or without autodiff) live in this process's memory: burn's CPU
/// backend, whose tensors lend their buffers to `TensorData` without a copy. There a single loop
/// over the data beats a chain of tensor operations, each a pass over memory; on a GPU the chain
/// is fused into one kernel instead.
pub fn in_host_memory(device: &Device) -> bool {
    cpu_device().is_some_and(|cpu| *device == cpu)
}

/// Waits until the work queued on `device` is done.
#[cfg(not(target_arch = "wasm32"))]
pub async fn idle(device: &Device) -> Result<()> {
    device.sync()?;
    Ok(())
}

/// Waits until the work queued on `device` is done. A browser cannot block on the GPU (as
/// `Device::sync` does), so: hand over what burn holds back, then read a new one-element tensor. A
/// WebGPU queue runs its work in submission order, so that read completes after everything before it.
#[cfg(target_arch = "wasm32")]
pub async fn idle(device: &Device) -> Result<()> {
    device.flush()?;
    burn::tensor::Tensor::<1>::zeros([1], &device.clone().without_autodiff()).into_data_async().await?;
    Ok(())
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> std::result::Result<Device, String> {
    use burn::tensor::Tensor;
    let device = Device::cuda(index);
    // The CUDA runtime starts lazily and panics when there is no driver or GPU: probe it once
    // here so the user gets a sentence instead.
    let probe = device.clone();
    std::panic::catch_unwind(move || Tensor::<1>::zeros([1], &probe).into_data())
        .map(|_| device)
        .map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no CUDA device could be opened".into())
        })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_index: usize) -> std::result::Result<Device, String> {
    Err("this build has no CUDA support; rebuild with `cargo build --release --features cuda`".into())
}
