// Runs CUDA device code on the host, so kernels can be tested on machines without a
// GPU: every CUDA thread of a block is an OS thread, __syncthreads and __syncwarp
// are barriers, shuffles go through a per-warp exchange, atomics are std::atomic_ref,
// and WMMA fragments hold their whole 16 x 16 tile in every lane (the CUDA docs'
// semantics of load/store/mma with row- and col-major layouts, not the hardware's
// register layout). Blocks run one after another over one shared-memory buffer
// filled with garbage first, as real shared memory is. Include before the kernels.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __launch_bounds__(threads)
#define __shared__
#define __align__(bytes)

using std::max;
using std::min;

struct dim3 {
  unsigned x = 0, y = 1, z = 1;
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace cuda_emulation {
constexpr int kMaxWarps = 32;
inline std::barrier<>* block_barrier;
inline std::vector<std::barrier<>*> warp_barriers;
inline double exchange[kMaxWarps][32];
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::block_barrier->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { cuda_emulation::warp_barriers[threadIdx.x / 32]->arrive_and_wait(); }

template <typename V>
V __shfl_xor_sync(unsigned, V v, int lane_mask) {
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncwarp();
  cuda_emulation::exchange[warp][lane] = double(v);
  __syncwarp();
  const V other = V(cuda_emulation::exchange[warp][lane ^ unsigned(lane_mask)]);
  __syncwarp();
  return other;
}

template <typename V>
V atomicAdd(V* address, V value) {
  return std::atomic_ref<V>(*address).fetch_add(value);
}

struct __half {
  uint16_t bits;
};
struct __nv_bfloat16 {
  uint16_t bits;
};

namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class E, class Layout = void>
struct fragment {
  float x[16][16];
};
using Accumulator = fragment<accumulator, 16, 16, 16, float>;

inline float widen(__half v) { return float(c10::Half(v.bits, c10::Half::from_bits())); }
inline float widen(__nv_bfloat16 v) { return float(c10::BFloat16(v.bits, c10::BFloat16::from_bits())); }

template <class Use, class E, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, E, Layout>& f, const E* p, unsigned ld) {
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.x[r][c] = widen(std::is_same_v<Layout, row_major> ? p[r * ld + c] : p[r + c * ld]);
}
inline void load_matrix_sync(Accumulator& f, const float* p, unsigned ld, layout_t layout) {
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.x[r][c] = layout == mem_row_major ? p[r * ld + c] : p[r + c * ld];
}
inline void store_matrix_sync(float* p, const Accumulator& f, unsigned ld, layout_t layout) {
  __syncwarp();  // every lane has loaded what this overwrites
  if (threadIdx.x % 32 == 0) {
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) (layout == mem_row_major ? p[r * ld + c] : p[r + c * ld]) = f.x[r][c];
  }
  __syncwarp();
}
inline void fill_fragment(Accumulator& f, float value) {
  for (auto& row : f.x)
    for (float& e : row) e = value;
}
template <class A, class B>
void mma_sync(Accumulator& d, const A& a, const B& b, const Accumulator& c) {
  Accumulator r;
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      float sum = c.x[i][j];
      for (int k = 0; k < 16; ++k) sum += a.x[i][k] * b.x[k][j];
      r.x[i][j] = sum;
    }
  }
  d = r;
}
}  // namespace nvcuda::wmma

namespace cuda_emulation {
// kernel<<<blocks, threads, shared_bytes>>>(args...), blocks one after another.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), int64_t blocks, unsigned threads, unsigned char* shared, size_t shared_bytes,
            Args... args) {
  gridDim = {unsigned(blocks)};
  blockDim = {threads};
  for (int64_t block = 0; block < blocks; ++block) {
    if (shared_bytes > 0) std::memset(shared, 0xCD, shared_bytes);
    std::barrier<> all(threads);
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    warp_barriers.clear();
    for (unsigned w = 0; w < threads / 32; ++w) {
      warps.push_back(std::make_unique<std::barrier<>>(32));
      warp_barriers.push_back(warps.back().get());
    }
    block_barrier = &all;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        threadIdx = {t};
        blockIdx = {unsigned(block)};
        kernel(args...);
      });
    }
    for (auto& thread : pool) thread.join();
  }
}
}  // namespace cuda_emulation
