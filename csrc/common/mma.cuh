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

// The A fragment of rows [row0, row0 + 16) and columns [16 step, 16 step + 16) of a row-major
// tile (leading dimension ld) in shared memory.
template <typename T>
__device__ inline void load_a_fragment(const T* tile, int ld, int row0, int step, uint32_t (&a)[4]) {
  const int lane = threadIdx.x % 32;
  const uint32_t* pairs = reinterpret_cast<const uint32_t*>(tile + (row0 + lane / 4) * ld + 16 * step + 2 * (lane % 4));
  const int down = 8 * ld / 2;  // eight rows on, in pairs
  a[0] = pairs[0], a[1] = pairs[down], a[2] = pairs[4], a[3] = pairs[down + 4];
}

// The B fragment of columns [8 col, 8 col + 8) and rows [16 step, 16 step + 16) of B, read from
// B's transpose stored row-major (leading dimension ld) in shared memory, so pairs are adjacent.
template <typename T>
__device__ inline void load_b_fragment(const T* transposed, int ld, int col, int step, uint32_t (&b)[2]) {
  const int lane = threadIdx.x % 32;
  const uint32_t* pairs =
      reinterpret_cast<const uint32_t*>(transposed + (8 * col + lane / 4) * ld + 16 * step + 2 * (lane % 4));
  b[0] = pairs[0], b[1] = pairs[4];
}

// Two accumulator tiles side by side (columns [0, 8) and [8, 16) of a 16 x 16 product) as the A
// fragment of the next product, rounded to T: how scores become probabilities in registers.
template <typename T>
__device__ inline void pack_a_fragment(const float (&left)[4], const float (&right)[4], uint32_t (&a)[4]) {
  a[0] = pack_pair<T>(left[0], left[1]), a[1] = pack_pair<T>(left[2], left[3]);
  a[2] = pack_pair<T>(right[0], right[1]), a[3] = pack_pair<T>(right[2], right[3]);
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
