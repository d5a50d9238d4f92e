// Which element types our CUDA kernels multiply on tensor cores (WMMA 16x16x16 with
// float accumulation), and the CUDA type a fragment holds for each. bfloat16 needs sm_80;
// below it, and for float and double, kernels take their CUDA-core path.
// Include after cuda_fp16.h, cuda_bf16.h and mma.h (or the host emulation's stand-ins).
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

namespace zoo {

template <typename T>
struct TensorCoreType {
  static constexpr bool value = false;
};
template <>
struct TensorCoreType<at::Half> {
  static constexpr bool value = true;
  using type = __half;
};
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
template <>
struct TensorCoreType<at::BFloat16> {
  static constexpr bool value = true;
  using type = __nv_bfloat16;
};
#endif

}  // namespace zoo
