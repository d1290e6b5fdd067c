//! The compute devices a worker offers: the CPU always, CUDA GPUs when built with the `cuda`
//! feature (candle finds them).

/// How many CUDA devices candle can open (0 without the `cuda` feature).
pub fn cuda_device_count() -> u32 {
    if !candle_core::utils::cuda_is_available() {
        return 0;
    }
    (0..64)
        .take_while(|&ordinal| candle_core::Device::new_cuda(ordinal).is_ok())
        .count() as u32
}

/// The device training runs on: the first CUDA GPU when the build has CUDA and one is present,
/// the CPU otherwise.
pub fn training_device() -> candle_core::Device {
    if candle_core::utils::cuda_is_available()
        && let Ok(gpu) = candle_core::Device::new_cuda(0)
    {
        return gpu;
    }
    candle_core::Device::Cpu
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
