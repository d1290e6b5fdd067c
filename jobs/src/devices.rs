//! The compute devices a worker offers: the CPU always, CUDA GPUs when built with the `cuda`
//! feature (candle finds them, unless the worker declares its count with `--gpus`), and the
//! device a training attempt runs on (the one its lease names).

/// How many CUDA devices candle can open (0 without the `cuda` feature).
pub fn cuda_device_count() -> u32 {
    if !candle_core::utils::cuda_is_available() {
        return 0;
    }
    (0..64)
        .take_while(|&ordinal| candle_core::Device::new_cuda(ordinal).is_ok())
        .count() as u32
}

/// The device training runs on. With a `leased` GPU index (the server picked it, free of the
/// worker's other jobs) exactly that CUDA device, or an error naming it when it cannot be
/// opened (a count declared with `--gpus` that the build or the machine cannot back). Without
/// one: the first CUDA GPU when the build has CUDA and one is present, the CPU otherwise.
pub fn training_device(leased: Option<u32>) -> Result<candle_core::Device, String> {
    if let Some(index) = leased {
        return candle_core::Device::new_cuda(index as usize).map_err(|err| {
            format!("the lease gave GPU device {index}, which cannot be opened: {err}")
        });
    }
    if candle_core::utils::cuda_is_available()
        && let Ok(gpu) = candle_core::Device::new_cuda(0)
    {
        return Ok(gpu);
    }
    Ok(candle_core::Device::Cpu)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cpu_build_offers_no_gpu() {
        if !candle_core::utils::cuda_is_available() {
            assert_eq!(super::cuda_device_count(), 0);
        }
    }
}
