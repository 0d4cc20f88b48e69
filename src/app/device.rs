//! `--device cpu|cuda|cuda:N|auto` parsing into a candle [`Device`].
//!
//! ```
//! let dev = kindling::app::device::parse_device("cpu").unwrap();
//! assert!(dev.is_cpu());
//! ```

use crate::{Error, Result};
use candle_core::Device;

/// Parses a device name and opens the device.
///
/// `auto` picks the first CUDA GPU when kindling was built with the `cuda` feature and one is
/// present, else the CPU. `cuda` and `cuda:N` in a build without the feature are an error that says
/// how to rebuild: never a silent fallback to the CPU.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    match spec.as_str() {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                open_cuda(0)
            } else {
                Ok(Device::Cpu)
            }
        }
        "cuda" | "gpu" => open_cuda(0),
        s if s.starts_with("cuda:") => {
            let n = s["cuda:".len()..].parse::<usize>().map_err(|_| {
                Error::invalid("--device", format!("'{spec}': expected cuda:N with N a GPU index, e.g. cuda:0"))
            })?;
            open_cuda(n)
        }
        _ => Err(Error::invalid("--device", format!("unknown device '{spec}': use cpu, cuda, cuda:N or auto"))),
    }
}

fn open_cuda(ordinal: usize) -> Result<Device> {
    if !cfg!(feature = "cuda") {
        return Err(Error::Device(format!(
            "--device cuda:{ordinal} asked for a GPU, but this kindling was built without CUDA. \
             Rebuild with `cargo build --release --features cuda` (needs the CUDA toolkit; see the README), \
             or pass --device cpu"
        )));
    }
    Device::new_cuda(ordinal).map_err(|e| {
        Error::Device(format!("could not open CUDA device {ordinal}: {e}. Check nvidia-smi, or pass --device cpu"))
    })
}

/// The device the test suite runs on: `$KINDLING_TEST_DEVICE` if set (`cpu`, `cuda`, `cuda:N`),
/// else the first GPU in a build with the `cuda` feature, else the CPU. One switch for every test
/// that exercises models, training and checkpoints; the tests of kindling's CPU kernels
/// (`tests/ops.rs`) always run on the CPU.
///
/// # Panics
/// If the device cannot be opened: a GPU test run on a machine without one should say so, not
/// quietly test the CPU (set `KINDLING_TEST_DEVICE=cpu` for that).
#[doc(hidden)] // the test suite's one switch between CPU and GPU, not a library API
pub fn test_device() -> Device {
    let spec = std::env::var("KINDLING_TEST_DEVICE")
        .unwrap_or_else(|_| if cfg!(feature = "cuda") { "cuda" } else { "cpu" }.into());
    parse_device(&spec).unwrap_or_else(|e| panic!("test device '{spec}': {e}"))
}

/// A short human-readable name for a device, e.g. `cpu` or `cuda:0`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => {
            format!("cpu ({} threads)", candle_core::utils::get_num_threads())
        }
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_unknown() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        let err = parse_device("tpu").unwrap_err().to_string();
        assert!(err.contains("unknown device"), "{err}");
        assert!(parse_device("cuda:x").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_an_error() {
        let err = parse_device("cuda").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
        assert!(parse_device("auto").unwrap().is_cpu());
    }
}
