// Runs CUDA device code on the host, so kernels can be tested on machines without a
// GPU: every CUDA thread of a block is an OS thread, __syncthreads and __syncwarp
// are barriers, shuffles go through a per-warp exchange, atomics are std::atomic_ref,
// WMMA fragments hold their whole 16 x 16 tile in every lane (the CUDA docs'
// semantics of load/store/mma with row- and col-major layouts, not the hardware's
// register layout), and mma.sync m16n8k16 (common/mma.cuh) gathers its operands from
// the lanes by the PTX ISA's fragment layouts. Blocks run one after another over one
// shared-memory buffer filled with garbage first, as real shared memory is; a cooperative launch runs
// its blocks at once instead, for cooperative_groups::this_grid().sync(), and its
// kernels may not use shared memory. Include before the kernels.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
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
#define ZOO_CUDA_EMULATION

using std::max;
using std::min;

struct dim3 {
  unsigned x = 0, y = 1, z = 1;
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace cuda_emulation {
constexpr int kMaxWarps = 32;

// What the threads of one block share: its barriers and the shuffles' exchange.
struct Block {
  std::barrier<> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  double exchange[kMaxWarps][32];
  uint32_t operands[kMaxWarps][32][6];  // mma.sync's a and b registers, per lane

  explicit Block(unsigned threads) : all(threads) {
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<std::barrier<>>(32));
  }
};
inline thread_local Block* block;
inline std::barrier<>* grid_barrier;  // a cooperative launch's
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::block->all.arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { cuda_emulation::block->warps[threadIdx.x / 32]->arrive_and_wait(); }

namespace cooperative_groups {
struct grid_group {
  void sync() const { cuda_emulation::grid_barrier->arrive_and_wait(); }
};
inline grid_group this_grid() { return {}; }
}  // namespace cooperative_groups

template <typename V>
V __shfl_xor_sync(unsigned, V v, int lane_mask) {
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncwarp();
  cuda_emulation::block->exchange[warp][lane] = double(v);
  __syncwarp();
  const V other = V(cuda_emulation::block->exchange[warp][lane ^ unsigned(lane_mask)]);
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
// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}: d += A B with A and B spread over the
// warp's lanes as common/mma.cuh lays out; each lane computes its own four values of D.
template <bool kBFloat16>
void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  auto& lanes = block->operands[warp];
  __syncwarp();
  std::copy(a, a + 4, lanes[lane]);
  std::copy(b, b + 2, lanes[lane] + 4);
  __syncwarp();
  auto value = [](uint32_t word, int k) {
    const uint16_t bits = uint16_t(word >> (16 * (k % 2)));
    return kBFloat16 ? float(c10::BFloat16(bits, c10::BFloat16::from_bits()))
                     : float(c10::Half(bits, c10::Half::from_bits()));
  };
  // A[r][k] is in lane (r % 8) * 4 + (k % 8) / 2, register (r / 8) + 2 (k / 8); B[k][n] in lane
  // n * 4 + (k % 8) / 2, register 4 + k / 8
  auto A = [&](int r, int k) { return value(lanes[(r % 8) * 4 + (k % 8) / 2][r / 8 + 2 * (k / 8)], k); };
  auto B = [&](int k, int n) { return value(lanes[n * 4 + (k % 8) / 2][4 + k / 8], k); };
  for (int e = 0; e < 4; ++e) {
    const int r = int(g) + 8 * (e / 2), n = 2 * int(t) + e % 2;
    float sum = d[e];
    for (int k = 0; k < 16; ++k) sum += A(r, k) * B(k, n);
    d[e] = sum;
  }
  __syncwarp();  // every lane has read the operands before any lane's next product overwrites them
}

// Runs blocks [first, first + count) of kernel<<<gridDim, blockDim>>>(args...) at once.
template <typename... Params, typename... Args>
void run_blocks(void (*kernel)(Params...), int64_t first, int64_t count, Args... args) {
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<std::thread> pool;
  for (int64_t b = 0; b < count; ++b) blocks.push_back(std::make_unique<Block>(blockDim.x));
  for (int64_t b = 0; b < count; ++b) {
    for (unsigned t = 0; t < blockDim.x; ++t) {
      pool.emplace_back([&, b, t] {
        block = blocks[b].get();
        threadIdx = {t};
        blockIdx = {unsigned(first + b)};
        kernel(args...);
      });
    }
  }
  for (auto& thread : pool) thread.join();
}

// kernel<<<blocks, threads, shared_bytes>>>(args...), blocks one after another.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), int64_t blocks, unsigned threads, unsigned char* shared, size_t shared_bytes,
            Args... args) {
  gridDim = {unsigned(blocks)};
  blockDim = {threads};
  for (int64_t b = 0; b < blocks; ++b) {
    if (shared_bytes > 0) std::memset(shared, 0xCD, shared_bytes);
    run_blocks(kernel, b, 1, args...);
  }
}

// cudaLaunchCooperativeKernel(kernel, blocks, threads, args): all blocks at once, no shared memory.
template <typename... Params, typename... Args>
void launch_cooperative(void (*kernel)(Params...), int64_t blocks, unsigned threads, Args... args) {
  gridDim = {unsigned(blocks)};
  blockDim = {threads};
  std::barrier<> grid(blocks * threads);
  grid_barrier = &grid;
  run_blocks(kernel, 0, blocks, args...);
}
}  // namespace cuda_emulation
