// The host emulation's launch for csrc/common/implicit_gemm.cuh's run (the GPU's is
// implicit_gemm_launch.cuh). Split-K shares are cut to 32 deep, so the tests' small
// gradients still add several shares with atomics.
#pragma once

#include <ATen/ATen.h>

#include "cuda_emulation.h"
#include "common/implicit_gemm.cuh"

namespace zoo::gemm {

alignas(128) inline unsigned char smem[1 << 16];  // the kernel's `extern __shared__` buffer

struct EmulatedLaunch {
  using Guard = NoDeviceGuard;
  static constexpr int64_t min_split_depth = 32;

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), int64_t blocks, size_t smem_bytes, Args... args) const {
    TORCH_CHECK(smem_bytes <= sizeof(smem), "emulated shared memory is too small");
    cuda_emulation::launch(kernel, blocks, kThreads, smem, smem_bytes, args...);
  }
};

}  // namespace zoo::gemm
