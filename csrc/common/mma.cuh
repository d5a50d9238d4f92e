// One warp-wide tensor-core product in registers, mma.sync m16n8k16 (sm_80+): D (16 x 8, float)
// += A (16 x 16) B (16 x 8) in half or bfloat16, for kernels that keep their accumulators in
// registers rather than going through shared memory as WMMA's fragments do. Fragment layouts
// (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with g = lane / 4 and t = lane % 4:
//   a[0] = A[g][2t, 2t+1]    a[1] = A[g+8][2t, 2t+1]    a[2] = A[g][2t+8, 2t+9]    a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]    b[1] = B[2t+8, 2t+9][g]
//   d[0], d[1] = D[g][2t, 2t+1]    d[2], d[3] = D[g+8][2t, 2t+1]
// each register holding two values, the lower index in the low 16 bits. The host emulation
// of CUDA (tests/ops/emulated/cuda_emulation.h) defines ZOO_CUDA_EMULATION and computes the
// same product from these layouts, so kernels built on it are tested without a GPU.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <type_traits>

namespace zoo {

// Two values of T (at::Half or at::BFloat16) as one fragment register, lo in the low half.
template <typename T>
__device__ inline uint32_t pack_pair(float lo, float hi) {
  return uint32_t(T(lo).x) | (uint32_t(T(hi).x) << 16);
}

// d += a b on the warp's tensor cores; T is at::Half or at::BFloat16.
template <typename T>
__device__ inline void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  static_assert(std::is_same_v<T, at::Half> || std::is_same_v<T, at::BFloat16>);
#if defined(ZOO_CUDA_EMULATION)
  cuda_emulation::mma_m16n8k16<std::is_same_v<T, at::BFloat16>>(d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, at::Half>) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // host code launches mma.sync kernels on sm_80+ only
#endif
}

}  // namespace zoo
