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

#[cfg(test)]
mod tests {
    #[test]
    fn a_cpu_build_offers_no_gpu() {
        if !candle_core::utils::cuda_is_available() {
            assert_eq!(super::cuda_device_count(), 0);
        }
    }
}
