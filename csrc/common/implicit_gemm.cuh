// A tiled CUDA GEMM whose operands are never stored: C = A B per group, with A (M x K)
// and B (K x N) read an element at a time through a problem's loaders, so a
// convolution's im2col matrix (or a transposed operand) exists only one tile at a
// time, in shared memory. A block computes one 64 x 64 tile of C over the whole depth
// or, split-K, over one share of it (the problem's store then adds atomically).
// fp16/bf16 tiles run on tensor cores (WMMA 16x16x16, float accumulation; each of the
// four warps keeps a 32 x 32 quarter in fragments), fp32/fp64 on CUDA cores (each
// thread keeps a 4 x 8 sub-tile in registers).
//
// A Problem is a struct with
//   using scalar_t;                 the operands' element type
//   int64_t groups, M, N, K;        independent GEMMs and their sizes
//   int64_t splits;                 shares of the depth K, a block each
//   static constexpr bool kAAlongK, kBAlongK:  whether A (B) is contiguous along k in
//                                   memory, so consecutive threads load consecutive addresses
//   scalar_t a(g, m, k), b(g, k, n) the operands, called only in range
//   void store(g, m, n, acc)        the epilogue, once per element of C and split
// or, in place of a or b, the operand's gather in two halves (SplitGatherA/B below: a
// convolution's pixel arithmetic, which would otherwise cost more than the product):
//   ARow a_row(g, m)                once per block and row, kept in shared memory
//   ACol a_col(g, k)                once per thread and depth tile (with kAAlongK, a thread's loads share k)
//   scalar_t a_at(row, col)         the element
//   BRow b_row(g, k)                once per depth tile and row, kept in shared memory
//   BCol b_col(g, n)                once per thread and depth tile (with !kBAlongK, a thread's loads share n)
//   scalar_t b_at(row, col)         the element
// Matmul below is the plain problem, for matrices in memory.
// Include after cuda_fp16.h, cuda_bf16.h and mma.h (or the host emulation's stand-ins).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>

#include "bias_act/bias_act.h"
#include "common/tensor_cores.cuh"

namespace zoo::gemm {

constexpr int kTileM = 64, kTileN = 64, kTileK = 32, kThreads = 128;
// Shared-memory row strides, padded so WMMA's loads stay 32-byte aligned and rows
// fall on different banks.
constexpr int kAStride = kTileK + 8, kBStride = kTileN + 8, kCStride = kTileN + 4;

template <typename T>
using acc_t = at::opmath_type<T>;  // float for half/bfloat16/float, double for double

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// act(value + bias[channel]) in T: what problems store; bias may be null.
template <bias_act::Activation A, typename T>
__device__ T epilogue(acc_t<T> value, const T* bias, int64_t channel) {
  if (bias != nullptr) value += acc_t<T>(bias[channel]);
  return T(bias_act::forward<A>(value));
}

template <typename P>
concept SplitGatherA = requires { typename P::ARow; typename P::ACol; };
template <typename P>
concept SplitGatherB = requires { typename P::BRow; typename P::BCol; };

// A block's shared memory: the A and B tiles, then C's tile for the tensor cores to store
// their fragments to, then the split gathers' row halves of A (the block's) and B (the depth tile's).
struct SharedLayout {
  size_t c_offset, a_rows_offset, b_rows_offset, bytes;
};

template <typename P>
constexpr SharedLayout shared_layout() {
  using T = typename P::scalar_t;
  SharedLayout layout{};
  layout.c_offset = (kTileM * kAStride + kTileK * kBStride) * sizeof(T);
  layout.a_rows_offset = layout.c_offset + (TensorCoreType<T>::value ? kTileM * kCStride * sizeof(float) : 0);
  layout.b_rows_offset = layout.a_rows_offset;
  if constexpr (SplitGatherA<P>) layout.b_rows_offset += kTileM * sizeof(typename P::ARow);
  layout.bytes = layout.b_rows_offset;
  if constexpr (SplitGatherB<P>) layout.bytes += kTileK * sizeof(typename P::BRow);
  return layout;
}

// The tiles of A (rows m0.., depth k0..k_end) and B into shared memory, zero outside. A
// SplitGatherA's row halves are in shared memory already; a SplitGatherB's are made here.
template <typename P, typename T = typename P::scalar_t>
__device__ void load_tiles(const P& p, int64_t g, int64_t m0, int64_t n0, int64_t k0, int64_t k_end, T* As, T* Bs,
                           unsigned char* smem) {
  constexpr SharedLayout layout = shared_layout<P>();
  if constexpr (SplitGatherA<P>) {
    static_assert(P::kAAlongK, "a split gather's threads each load one column of the A tile");
    const auto* row = reinterpret_cast<const typename P::ARow*>(smem + layout.a_rows_offset);
    const int c = threadIdx.x % kTileK;
    const bool in_depth = k0 + c < k_end;
    const typename P::ACol col = in_depth ? p.a_col(g, k0 + c) : typename P::ACol{};
    for (int r = threadIdx.x / kTileK; r < kTileM; r += kThreads / kTileK) {
      As[r * kAStride + c] = in_depth && m0 + r < p.M ? p.a_at(row[r], col) : T(0);
    }
  } else {
    for (int e = threadIdx.x; e < kTileM * kTileK; e += kThreads) {
      const int r = P::kAAlongK ? e / kTileK : e % kTileM, c = P::kAAlongK ? e % kTileK : e / kTileM;
      const int64_t m = m0 + r, k = k0 + c;
      As[r * kAStride + c] = m < p.M && k < k_end ? p.a(g, m, k) : T(0);
    }
  }
  if constexpr (SplitGatherB<P>) {
    static_assert(!P::kBAlongK, "a split gather's threads each load one column of the B tile");
    auto* row = reinterpret_cast<typename P::BRow*>(smem + layout.b_rows_offset);
    for (int r = threadIdx.x; r < kTileK && k0 + r < k_end; r += kThreads) row[r] = p.b_row(g, k0 + r);
    const int c = threadIdx.x % kTileN;
    const bool in_width = n0 + c < p.N;
    const typename P::BCol col = in_width ? p.b_col(g, n0 + c) : typename P::BCol{};
    __syncthreads();  // the depth tile's rows are in
    for (int r = threadIdx.x / kTileN; r < kTileK; r += kThreads / kTileN) {
      Bs[r * kBStride + c] = in_width && k0 + r < k_end ? p.b_at(row[r], col) : T(0);
    }
  } else {
    for (int e = threadIdx.x; e < kTileK * kTileN; e += kThreads) {
      const int r = P::kBAlongK ? e % kTileK : e / kTileN, c = P::kBAlongK ? e / kTileK : e % kTileN;
      const int64_t k = k0 + r, n = n0 + c;
      Bs[r * kBStride + c] = n < p.N && k < k_end ? p.b(g, k, n) : T(0);
    }
  }
}

// Block b: column tile fastest, then row tile, split and group.
template <typename P>
__global__ void __launch_bounds__(kThreads) implicit_gemm_kernel(P p) {
  using T = typename P::scalar_t;
  using Acc = acc_t<T>;
  extern __shared__ __align__(128) unsigned char smem[];
  T* As = reinterpret_cast<T*>(smem);
  T* Bs = As + kTileM * kAStride;

  const int64_t tiles_n = ceil_div(p.N, kTileN), tiles_m = ceil_div(p.M, kTileM);
  int64_t block = blockIdx.x;
  const int64_t n0 = block % tiles_n * kTileN;
  block /= tiles_n;
  const int64_t m0 = block % tiles_m * kTileM;
  block /= tiles_m;
  const int64_t split = block % p.splits, g = block / p.splits;
  const int64_t share = ceil_div(ceil_div(p.K, p.splits), kTileK) * kTileK;
  const int64_t k_begin = split * share, k_end = min(p.K, k_begin + share);
  constexpr SharedLayout layout = shared_layout<P>();
  if constexpr (SplitGatherA<P>) {  // read after the depth loop's first barrier
    auto* row = reinterpret_cast<typename P::ARow*>(smem + layout.a_rows_offset);
    for (int r = threadIdx.x; r < kTileM && m0 + r < p.M; r += kThreads) row[r] = p.a_row(g, m0 + r);
  }

  if constexpr (TensorCoreType<T>::value) {
    namespace wmma = nvcuda::wmma;
    using E = typename TensorCoreType<T>::type;
    float* Cs = reinterpret_cast<float*>(smem + layout.c_offset);
    const int warp = threadIdx.x / 32, wm = warp / 2 * 32, wn = warp % 2 * 32;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (auto& row : acc)
      for (auto& f : row) wmma::fill_fragment(f, 0.f);
    for (int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
      __syncthreads();  // the last tiles are consumed
      load_tiles(p, g, m0, n0, k0, k_end, As, Bs, smem);
      __syncthreads();
      for (int kk = 0; kk < kTileK; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> a[2];
        wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::row_major> b[2];
        for (int i = 0; i < 2; ++i) {
          wmma::load_matrix_sync(a[i], reinterpret_cast<const E*>(As + (wm + 16 * i) * kAStride + kk), kAStride);
          wmma::load_matrix_sync(b[i], reinterpret_cast<const E*>(Bs + kk * kBStride + wn + 16 * i), kBStride);
        }
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
      }
    }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        wmma::store_matrix_sync(Cs + (wm + 16 * i) * kCStride + wn + 16 * j, acc[i][j], kCStride, wmma::mem_row_major);
    __syncthreads();
    for (int e = threadIdx.x; e < kTileM * kTileN; e += kThreads) {
      const int64_t m = m0 + e / kTileN, n = n0 + e % kTileN;
      if (m < p.M && n < p.N) p.store(g, m, n, Cs[e / kTileN * kCStride + e % kTileN]);
    }
  } else {
    const int ty = threadIdx.x / 8, tx = threadIdx.x % 8;  // rows ty + 16 i, columns tx + 8 j
    Acc acc[4][8] = {};
    for (int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
      __syncthreads();
      load_tiles(p, g, m0, n0, k0, k_end, As, Bs, smem);
      __syncthreads();
      Acc tile[4][8] = {};  // this tile's sums, added to the totals once: error grows with K / 32, not K
      for (int kk = 0; kk < kTileK; ++kk) {
        Acc a[4], b[8];
        for (int i = 0; i < 4; ++i) a[i] = Acc(As[(ty + 16 * i) * kAStride + kk]);
        for (int j = 0; j < 8; ++j) b[j] = Acc(Bs[kk * kBStride + tx + 8 * j]);
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 8; ++j) tile[i][j] += a[i] * b[j];
      }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 8; ++j) acc[i][j] += tile[i][j];
    }
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 8; ++j) {
        const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 8 * j;
        if (m < p.M && n < p.N) p.store(g, m, n, acc[i][j]);
      }
    }
  }
}

// Shares of a depth K for a GEMM of `tiles` output tiles: enough blocks to fill a large
// GPU (about 512), each at least `min_share` deep so its atomics stay a small part of its work.
inline int64_t split_count(int64_t tiles, int64_t K, int64_t min_share) {
  if (tiles == 0) return 1;
  return std::clamp<int64_t>(ceil_div(512, tiles), 1, std::max<int64_t>(1, ceil_div(K, min_share)));
}

inline int64_t tiles_of(int64_t M, int64_t N) { return ceil_div(M, kTileM) * ceil_div(N, kTileN); }

// Runs problem p through `launch(kernel, blocks, shared_bytes, p)`: a real launch on the
// GPU, or the host emulation's in CI.
template <typename P, typename Launch>
void run(const P& p, const Launch& launch) {
  const int64_t blocks = p.groups * p.splits * tiles_of(p.M, p.N);
  if (blocks > 0) launch(implicit_gemm_kernel<P>, blocks, shared_layout<P>().bytes, p);
}

// A matrix in memory at any (row, column) strides.
template <typename T>
struct Matrix {
  const T* data;
  int64_t row_stride, col_stride;
  __device__ T operator()(int64_t r, int64_t c) const { return data[r * row_stride + c * col_stride]; }
};

// The plain problem: C (M x N) = A B, stored row-major as act(C + bias[n]) into c or, where sums is
// given (split-K), added atomically into sums in the accumulate type. AAlongK (BAlongK): whether
// A's (B's) stride along k is the small one.
template <typename T, bias_act::Activation Act, bool AAlongK, bool BAlongK>
struct Matmul {
  using scalar_t = T;
  static constexpr bool kAAlongK = AAlongK, kBAlongK = BAlongK;
  int64_t groups, M, N, K, splits;
  Matrix<T> A, B;
  const T* bias;
  T* c;
  acc_t<T>* sums;

  __device__ T a(int64_t, int64_t m, int64_t k) const { return A(m, k); }
  __device__ T b(int64_t, int64_t k, int64_t n) const { return B(k, n); }
  __device__ void store(int64_t, int64_t m, int64_t n, acc_t<T> v) const {
    if (sums != nullptr) {
      atomicAdd(sums + m * N + n, v);
    } else {
      c[m * N + n] = epilogue<Act>(v, bias, n);
    }
  }
};

// The sums over rows of t, contiguous with `columns` innermost (a bias's gradient): ones (1 x rows)
// times t, split-K, in the accumulate type, returned in t's dtype.
template <typename Launch>
at::Tensor column_sums(const at::Tensor& t, int64_t columns, const Launch& launch) {
  const int64_t rows = columns == 0 ? 0 : t.numel() / columns;
  at::Tensor sums = at::zeros({columns}, t.options().dtype(at::toOpMathType(t.scalar_type())));
  const at::Tensor one = at::ones({1}, t.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, t.scalar_type(), "zoo_column_sums_cuda", [&] {
    using P = Matmul<scalar_t, bias_act::Activation::Identity, true, false>;
    const int64_t splits = split_count(tiles_of(1, columns), rows, Launch::min_split_depth);
    run(P{1, 1, columns, rows, splits, {one.const_data_ptr<scalar_t>(), 0, 0}, {t.const_data_ptr<scalar_t>(), columns, 1},
          nullptr, nullptr, sums.mutable_data_ptr<acc_t<scalar_t>>()},
        launch);
  });
  return sums.to(t.scalar_type());
}

}  // namespace zoo::gemm
