// The GPU's launch for common/implicit_gemm.cuh's run (the host emulation has its own):
// on the current stream, checked, under a CUDAGuard for the inputs' device.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <limits>

#include "common/implicit_gemm.cuh"

namespace zoo::gemm {

struct CudaLaunch {
  using Guard = c10::cuda::CUDAGuard;
  static constexpr int64_t min_split_depth = 256;

  template <typename Kernel, typename... Args>
  void operator()(Kernel kernel, int64_t blocks, size_t smem_bytes, Args... args) const {
    TORCH_CHECK(blocks <= std::numeric_limits<int32_t>::max(), "implicit GEMM: ", blocks,
                " blocks exceed CUDA's grid limit");
    kernel<<<unsigned(blocks), kThreads, smem_bytes, at::cuda::getCurrentCUDAStream()>>>(args...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace zoo::gemm
