// zoo::attention's CUDA kernels (FlashAttention-2 style) and the host code that sizes
// and launches them through a `launch` it is given: attention_cuda.cu passes a real
// one; tests/ops/emulated/attention.cpp passes the host emulation of CUDA
// (tests/ops/emulated/cuda_emulation.h, an OS thread per CUDA thread), since CI has no
// GPU, so the emulation checks this code, indexing, barriers and arithmetic included.
// Include after cuda_fp16.h, cuda_bf16.h and mma.h (or the emulation's stand-ins).
//
// Each step is a block-wide pass over shared memory, so it can be read against the
// CPU kernel line by line. The forward gives a block one query tile: per key tile,
// S = Q K^T, the online softmax (running max m and sum l per row; the output
// accumulator O is rescaled in place) and O += P V; it stores out and the
// logsumexp. The backward gives a block one key tile of a key/value head, so dK and
// dV are its own (no atomics); it walks that head's query heads and their query
// tiles, recomputing P from the logsumexp, and adds dQ into a float (double for
// float64) accumulator with atomics. fp16/bf16 products run on tensor cores (WMMA
// 16x16x16, float accumulation), fp32/fp64 on CUDA cores. On sm_80+ at half/bfloat16
// with head dims up to 128, forward_mma_kernel and backward_mma_kernel do the same
// with their accumulators and the scores in registers (mma.sync m16n8k16).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include "attention/attention.h"
#include "common/device_math.cuh"
#include "common/mma.cuh"
#include "common/tensor_cores.cuh"
#include "common/warp_reduce.cuh"

namespace zoo::attention::kernels {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;

template <typename T>
using acc_t = at::opmath_type<T>;  // float for half/bfloat16/float, double for double

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// C (M x N, row-major, ldc) = A B (+ C if accumulate), all in shared memory; M, N, K
// multiples of 16. A is M x K row-major (lda), or stored K x M if kATransposed; B is
// K x N row-major (ldb), or stored N x K if kBTransposed. The block's warps share out
// the 16 x 16 tiles of C. Callers synchronise the block around it.
template <bool kATransposed, bool kBTransposed, typename T, typename Acc>
__device__ void block_mma(int M, int N, int K, const T* A, int lda, const T* B, int ldb, Acc* C, int ldc,
                          bool accumulate) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, tiles_n = N / 16;
  for (int t = warp; t < (M / 16) * tiles_n; t += kWarps) {
    const int i0 = t / tiles_n * 16, j0 = t % tiles_n * 16;
    if constexpr (TensorCoreType<T>::value) {
      namespace wmma = nvcuda::wmma;
      using E = typename TensorCoreType<T>::type;
      using ALayout = std::conditional_t<kATransposed, wmma::col_major, wmma::row_major>;
      using BLayout = std::conditional_t<kBTransposed, wmma::col_major, wmma::row_major>;
      wmma::fragment<wmma::matrix_a, 16, 16, 16, E, ALayout> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, E, BLayout> b;
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
      if (accumulate) {
        wmma::load_matrix_sync(c, C + i0 * ldc + j0, ldc, wmma::mem_row_major);
      } else {
        wmma::fill_fragment(c, 0.f);
      }
      for (int k0 = 0; k0 < K; k0 += 16) {
        wmma::load_matrix_sync(a, reinterpret_cast<const E*>(kATransposed ? A + k0 * lda + i0 : A + i0 * lda + k0), lda);
        wmma::load_matrix_sync(b, reinterpret_cast<const E*>(kBTransposed ? B + j0 * ldb + k0 : B + k0 * ldb + j0), ldb);
        wmma::mma_sync(c, a, b, c);
      }
      wmma::store_matrix_sync(C + i0 * ldc + j0, c, ldc, wmma::mem_row_major);
    } else {
      for (int e = lane; e < 256; e += 32) {
        const int i = i0 + e / 16, j = j0 + e % 16;
        Acc sum = accumulate ? C[i * ldc + j] : Acc(0);
        for (int k = 0; k < K; ++k) {
          sum += Acc(kATransposed ? A[k * lda + i] : A[i * lda + k]) * Acc(kBTransposed ? B[j * ldb + k] : B[k * ldb + j]);
        }
        C[i * ldc + j] = sum;
      }
    }
  }
}

// A (B, H, L, E) tensor at any strides.
template <typename T>
struct View {
  T* data;
  int64_t sb, sh, sl, se;
  __device__ T& operator()(int64_t b, int64_t h, int64_t l, int64_t e) const {
    return data[b * sb + h * sh + l * sl + e * se];
  }
};

template <typename T>
View<T> view_of(const at::Tensor& t) {
  T* data;
  if constexpr (std::is_const_v<T>) data = t.const_data_ptr<std::remove_const_t<T>>();
  else data = t.mutable_data_ptr<T>();
  return {data, t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// What the forward and the backward both read: the inputs, the mask and the sizes,
// with head dims padded to whole 16-wide tiles (Dp, Dvp) in shared memory.
template <typename T>
struct Problem {
  View<const T> q, k, v;
  const void* mask;  // expanded (B, Hq, Lq, Lk): bool (true = attend) or additive in T
  bool mask_is_bool, causal;
  int64_t mb, mh, mi, mj;
  bool chunked;  // q, k and v read 8 elements (16 bytes) at a time: see chunk_readable
  int64_t B, Hq, Hkv, Lq, Lk;
  int D, Dv, Dp, Dvp, tile;
  acc_t<T> scale;

  // The scaled, masked logit of query i and key j from their product (-inf where not attended).
  __device__ acc_t<T> logit(acc_t<T> product, int64_t b, int64_t h, int64_t i, int64_t j) const {
    using A = acc_t<T>;
    constexpr A kNegInf = -std::numeric_limits<A>::infinity();
    if (i >= Lq || j >= Lk || (causal && j > i)) return kNegInf;
    A x = product * scale;
    if (mask != nullptr) {
      const int64_t offset = b * mb + h * mh + i * mi + j * mj;
      if (mask_is_bool) {
        if (!static_cast<const bool*>(mask)[offset]) return kNegInf;
      } else {
        x += A(static_cast<const T*>(mask)[offset]);
      }
    }
    return x;
  }

  // exp(logit - lse), the softmax probability of query i and key j that the backward recomputes;
  // 0 where not attended and in a row the forward found fully masked (lse -inf).
  __device__ acc_t<T> probability(acc_t<T> product, acc_t<T> row_lse, int64_t b, int64_t h, int64_t i,
                                  int64_t j) const {
    using A = acc_t<T>;
    constexpr A kNegInf = -std::numeric_limits<A>::infinity();
    const A x = row_lse == kNegInf ? kNegInf : logit(product, b, h, i, j);
    return x == kNegInf ? A(0) : exp_of(x - row_lse);
  }
};

// rows x width of src (from row l0 of head (b, h)) into dst (tile x width_padded,
// row-major), zero outside the tensor: pads never change a product.
template <typename T>
__device__ void stage(T* dst, const View<const T>& src, int64_t b, int64_t h, int64_t l0, int64_t length, int tile,
                      int width, int width_padded) {
  for (int e = threadIdx.x; e < tile * width_padded; e += blockDim.x) {
    const int r = e / width_padded, c = e % width_padded;
    dst[e] = l0 + r < length && c < width ? src(b, h, l0 + r, c) : T(0);
  }
}

template <typename U>
__device__ void fill(U* dst, int n, U value) {
  for (int e = threadIdx.x; e < n; e += blockDim.x) dst[e] = value;
}

// Lays a block's dynamic shared memory out as 128-byte aligned arrays; with base 0 on
// the host it measures the layout.
struct Carver {
  uintptr_t base, used = 0;
  template <typename U>
  __host__ __device__ U* take(int64_t n) {
    U* p = reinterpret_cast<U*>(base + used);
    used += (n * sizeof(U) + 127) / 128 * 128;
    return p;
  }
};

template <typename T>
struct ForwardSmem {
  T *Q, *K, *V, *P;
  acc_t<T> *S, *O, *m, *l;
  size_t bytes;
  __host__ __device__ ForwardSmem(uintptr_t base, int tile, int Dp, int Dvp) {
    Carver c{base};
    Q = c.take<T>(tile * Dp), K = c.take<T>(tile * Dp), V = c.take<T>(tile * Dvp), P = c.take<T>(tile * tile);
    S = c.take<acc_t<T>>(tile * tile), O = c.take<acc_t<T>>(tile * Dvp);
    m = c.take<acc_t<T>>(tile), l = c.take<acc_t<T>>(tile);
    bytes = c.used;
  }
};

// The backward's dQ = dS K goes through shared memory only on tensor cores (a fragment is
// stored whole); on CUDA cores each thread adds its dot products straight into global
// memory, which leaves room for float64 at head dim 256. dQ comes last, so the other
// arrays sit at the same offsets whether the host or a device pass lays them out.
template <typename T>
constexpr bool kStagedDq = TensorCoreType<T>::value;

template <typename T>
struct BackwardSmem {
  T *K, *V, *Q, *dO, *P, *dS;
  acc_t<T> *dK, *dV, *S, *dP, *lse, *Di, *dQ = nullptr;
  size_t bytes;
  __host__ __device__ BackwardSmem(uintptr_t base, int tile, int Dp, int Dvp) {
    Carver c{base};
    K = c.take<T>(tile * Dp), V = c.take<T>(tile * Dvp), Q = c.take<T>(tile * Dp), dO = c.take<T>(tile * Dvp);
    P = c.take<T>(tile * tile), dS = c.take<T>(tile * tile);
    dK = c.take<acc_t<T>>(tile * Dp), dV = c.take<acc_t<T>>(tile * Dvp);
    S = c.take<acc_t<T>>(tile * tile), dP = c.take<acc_t<T>>(tile * tile);
    lse = c.take<acc_t<T>>(tile), Di = c.take<acc_t<T>>(tile);
    if constexpr (kStagedDq<T>) dQ = c.take<acc_t<T>>(tile * Dp);
    bytes = c.used;
  }
};

// One block per query tile of one query head.
template <typename T>
__global__ void __launch_bounds__(kThreads) forward_kernel(Problem<T> p, View<T> out, acc_t<T>* lse) {
  using A = acc_t<T>;
  constexpr A kNegInf = -std::numeric_limits<A>::infinity();
  extern __shared__ __align__(128) unsigned char smem[];
  const int tile = p.tile, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t n_qtiles = (p.Lq + tile - 1) / tile, head = blockIdx.x / n_qtiles;
  const int64_t b = head / p.Hq, h = head % p.Hq, hk = h / (p.Hq / p.Hkv), i0 = blockIdx.x % n_qtiles * tile;
  const ForwardSmem<T> sm(reinterpret_cast<uintptr_t>(smem), tile, p.Dp, p.Dvp);

  stage(sm.Q, p.q, b, h, i0, p.Lq, tile, p.D, p.Dp);
  fill(sm.O, tile * p.Dvp, A(0));
  fill(sm.m, tile, kNegInf);
  fill(sm.l, tile, A(0));
  const int64_t k_end = p.causal ? min(p.Lk, i0 + tile) : p.Lk;  // causal: later keys are masked for every row
  for (int64_t j0 = 0; j0 < k_end; j0 += tile) {
    __syncthreads();  // the last tile's O += P V has read K, V and P
    stage(sm.K, p.k, b, hk, j0, p.Lk, tile, p.D, p.Dp);
    stage(sm.V, p.v, b, hk, j0, p.Lk, tile, p.Dv, p.Dvp);
    __syncthreads();
    block_mma<false, true>(tile, tile, p.Dp, sm.Q, p.Dp, sm.K, p.Dp, sm.S, tile, false);  // S = Q K^T
    __syncthreads();
    for (int i = warp; i < tile; i += kWarps) {  // online softmax, a warp per row
      A* s_row = sm.S + i * tile;
      A tile_max = kNegInf;
      for (int j = lane; j < tile; j += 32) {
        s_row[j] = p.logit(s_row[j], b, h, i0 + i, j0 + j);
        tile_max = max(tile_max, s_row[j]);
      }
      const A m_old = sm.m[i], m_new = max(m_old, warp_max(tile_max));
      const bool none_seen = m_new == kNegInf;  // every key so far is masked for this row
      const A alpha = none_seen ? A(1) : exp_of(m_old - m_new);  // 0 when m_old is -inf
      A sum = 0;
      for (int j = lane; j < tile; j += 32) {
        const A prob = none_seen ? A(0) : exp_of(s_row[j] - m_new);
        sm.P[i * tile + j] = T(prob);
        sum += prob;
      }
      sum = warp_sum(sum);
      for (int d = lane; d < p.Dvp; d += 32) sm.O[i * p.Dvp + d] *= alpha;
      __syncwarp();  // every lane has read m[i] and l[i]
      if (lane == 0) sm.m[i] = m_new, sm.l[i] = sm.l[i] * alpha + sum;
    }
    __syncthreads();
    block_mma<false, false>(tile, p.Dvp, tile, sm.P, tile, sm.V, p.Dvp, sm.O, p.Dvp, true);  // O += P V
  }
  __syncthreads();
  for (int i = warp; i < tile && i0 + i < p.Lq; i += kWarps) {
    const A l = sm.l[i], inv = l > A(0) ? A(1) / l : A(0);  // a fully masked row: output 0
    for (int d = lane; d < p.Dv; d += 32) out(b, h, i0 + i, d) = T(sm.O[i * p.Dvp + d] * inv);
    if (lane == 0) lse[head * p.Lq + i0 + i] = l > A(0) ? sm.m[i] + log_of(l) : kNegInf;
  }
}

// The forward on sm_80+ tensor cores (half, bfloat16) with FlashAttention-2's register tiling:
// a block of 4 warps takes kMmaRows query rows, 16 per warp, whose Q fragments, scores,
// probabilities and output accumulator stay in registers (mma.sync m16n8k16, common/mma.cuh).
// Only the key tiles of K and V go through shared memory, V transposed so that its
// fragments, like K's, are pairs of adjacent values. kDp: both head dims padded with zeros
// to 32, 64, 96 or 128. The online softmax is forward_kernel's, a row shared by 4 lanes.
constexpr int kMmaRows = 16 * kWarps, kMmaKeys = 64;
constexpr int kMmaPad = 8;  // elements per shared row past the data: a fragment load hits 32 banks

// forward_mma_kernel's shared memory, in elements from its start: the query tile, a key tile
// and a value tile transposed (kDp rows of kMmaKeys keys), rows padded by kMmaPad. Constant
// offsets, not a Carver's pointers: with those, ptxas (sm_90) gave these kernels up to 90 more
// registers, and spills.
template <int kDp>
struct MmaForwardLayout {
  static constexpr int kLd = kDp + kMmaPad, kLdV = kMmaKeys + kMmaPad;
  static constexpr int kQ = 0, kK = kQ + kMmaRows * kLd, kVt = kK + kMmaKeys * kLd, kEnd = kVt + kDp * kLdV;
  static constexpr size_t bytes(size_t element) { return kEnd * element; }
};

// 16 bytes, what one vector load moves.
struct alignas(16) Chunk {
  uint32_t words[4];
};

// Rows [l0, l0 + rows) of head (b, h) of src into dst (row stride ld, kDp columns), zero past the
// tensor; into (column, row) order instead with kTransposed. Whole 8-element chunks where p.chunked.
template <bool kTransposed, int kDp, typename T>
__device__ void stage_chunks(T* dst, int ld, const View<const T>& src, int64_t b, int64_t h, int64_t l0,
                             int64_t length, int width, int rows, bool chunked) {
  constexpr int kChunks = kDp / 8;
  for (int e = threadIdx.x; e < rows * kChunks; e += blockDim.x) {
    const int r = e / kChunks, c0 = e % kChunks * 8;
    alignas(16) T values[8];
    if (chunked && l0 + r < length && c0 < width) {  // width is a multiple of 8
      *reinterpret_cast<Chunk*>(values) = *reinterpret_cast<const Chunk*>(&src(b, h, l0 + r, c0));
    } else {
      for (int c = 0; c < 8; ++c) values[c] = l0 + r < length && c0 + c < width ? src(b, h, l0 + r, c0 + c) : T(0);
    }
    if constexpr (kTransposed) {
      for (int c = 0; c < 8; ++c) dst[(c0 + c) * ld + r] = values[c];
    } else {
      *reinterpret_cast<Chunk*>(dst + r * ld + c0) = *reinterpret_cast<const Chunk*>(values);
    }
  }
}

template <typename T, int kDp>
__global__ void __launch_bounds__(kThreads) forward_mma_kernel(Problem<T> p, View<T> out, float* lse) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  using Layout = MmaForwardLayout<kDp>;
  constexpr int kLd = Layout::kLd, kLdV = Layout::kLdV;
  constexpr int kSteps = kDp / 16, kKeyCols = kMmaKeys / 8, kOutCols = kDp / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  T* const base = reinterpret_cast<T*>(smem);
  T *const Qs = base + Layout::kQ, *const Ks = base + Layout::kK, *const Vt = base + Layout::kVt;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t n_qtiles = (p.Lq + kMmaRows - 1) / kMmaRows, head = blockIdx.x / n_qtiles;
  const int64_t b = head / p.Hq, h = head % p.Hq, hk = h / (p.Hq / p.Hkv), i0 = blockIdx.x % n_qtiles * kMmaRows;
  const int64_t row0 = i0 + warp * 16 + g;  // this lane's rows: row0 and row0 + 8
  auto quad_reduce = [](float v, auto op) {  // over the 4 lanes that share a row
    for (int offset = 1; offset < 4; offset *= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
  };

  stage_chunks<false, kDp>(Qs, kLd, p.q, b, h, i0, p.Lq, p.D, kMmaRows, p.chunked);
  __syncthreads();
  uint32_t qf[kSteps][4];
  for (int st = 0; st < kSteps; ++st) load_a_fragment(Qs, kLd, warp * 16, st, qf[st]);
  float o[kOutCols][4] = {};
  float m[2] = {kNegInf, kNegInf}, l[2] = {0.f, 0.f};  // running max; this lane's share of the running sum
  const int64_t k_end = p.causal ? min(p.Lk, i0 + kMmaRows) : p.Lk;  // causal: later keys are masked for every row
  for (int64_t j0 = 0; j0 < k_end; j0 += kMmaKeys) {
    __syncthreads();  // every warp is done with the last tile's K and V
    stage_chunks<false, kDp>(Ks, kLd, p.k, b, hk, j0, p.Lk, p.D, kMmaKeys, p.chunked);
    stage_chunks<true, kDp>(Vt, kLdV, p.v, b, hk, j0, p.Lk, p.Dv, kMmaKeys, p.chunked);
    __syncthreads();
    float s[kKeyCols][4] = {};  // S = Q K^T, 8 keys per column tile
    for (int n = 0; n < kKeyCols; ++n) {
      for (int st = 0; st < kSteps; ++st) {
        uint32_t kf[2];
        load_b_fragment(Ks, kLd, n, st, kf);
        mma_m16n8k16<T>(s[n], qf[st], kf);
      }
    }
    float tile_max[2] = {kNegInf, kNegInf}, alpha[2], sum[2] = {0.f, 0.f};
    for (int n = 0; n < kKeyCols; ++n) {
      for (int e = 0; e < 4; ++e) {
        s[n][e] = p.logit(s[n][e], b, h, row0 + 8 * (e / 2), j0 + 8 * n + 2 * t + e % 2);
        tile_max[e / 2] = max(tile_max[e / 2], s[n][e]);
      }
    }
    for (int r = 0; r < 2; ++r) {
      const float m_new = max(m[r], quad_reduce(tile_max[r], [](float x, float y) { return max(x, y); }));
      alpha[r] = m_new == kNegInf ? 1.f : exp_of(m[r] - m_new);  // 0 when m[r] is -inf
      m[r] = m_new;
    }
    for (int n = 0; n < kKeyCols; ++n) {
      for (int e = 0; e < 4; ++e) {
        const float row_max = m[e / 2];  // -inf: every key so far is masked for this row
        s[n][e] = row_max == kNegInf ? 0.f : exp_of(s[n][e] - row_max);
        sum[e / 2] += s[n][e];
      }
    }
    for (int r = 0; r < 2; ++r) l[r] = l[r] * alpha[r] + sum[r];
    for (int c = 0; c < kOutCols; ++c) {
      for (int e = 0; e < 4; ++e) o[c][e] *= alpha[e / 2];
    }
    for (int kk = 0; kk < kMmaKeys / 16; ++kk) {  // O += P V, P's A fragments straight from S's registers
      uint32_t pf[4];
      pack_a_fragment<T>(s[2 * kk], s[2 * kk + 1], pf);
      for (int c = 0; c < kOutCols; ++c) {
        uint32_t vf[2];
        load_b_fragment(Vt, kLdV, c, kk, vf);
        mma_m16n8k16<T>(o[c], pf, vf);
      }
    }
  }
  for (int r = 0; r < 2; ++r) {
    const float total = quad_reduce(l[r], [](float x, float y) { return x + y; });
    const int64_t row = row0 + 8 * r;
    if (row >= p.Lq) continue;
    const float inv = total > 0.f ? 1.f / total : 0.f;  // a fully masked row: output 0
    for (int c = 0; c < kOutCols; ++c) {
      for (int e = 0; e < 2; ++e) {
        const int d = 8 * c + 2 * t + e;
        if (d < p.Dv) out(b, h, row, d) = T(o[c][2 * r + e] * inv);
      }
    }
    if (t == 0) lse[head * p.Lq + row] = total > 0.f ? m[r] + log_of(total) : kNegInf;
  }
}

// run(std::integral_constant<int, kDp>{}) for the register tiles' padded head dim of p (32, 64, 96
// or 128), or false where they do not apply: head dims over 128, or no mma.sync
// (launch.register_tiles: sm_80+). run returns whether it launched.
template <typename T, typename Launch, typename Run>
bool with_register_tiles(const Problem<T>& p, const Launch& launch, Run run) {
  const int dims = std::max(p.Dp, p.Dvp);
  if (!launch.register_tiles || dims > 128) return false;
  if (dims <= 32) return run(std::integral_constant<int, 32>{});
  if (dims <= 64) return run(std::integral_constant<int, 64>{});
  if (dims <= 96) return run(std::integral_constant<int, 96>{});
  return run(std::integral_constant<int, 128>{});
}

// Runs forward_mma_kernel where its tiles fit; false where they do not.
template <typename T, typename Launch>
bool forward_mma(const Problem<T>& p, View<T> out, float* lse, const Launch& launch) {
  return with_register_tiles(p, launch, [&](auto padded) {
    constexpr int kDp = decltype(padded)::value;
    const size_t bytes = MmaForwardLayout<kDp>::bytes(sizeof(T));
    if (bytes > launch.shared_bytes) return false;
    const int64_t blocks = p.B * p.Hq * ((p.Lq + kMmaRows - 1) / kMmaRows);
    if (blocks > 0) launch(forward_mma_kernel<T, kDp>, blocks, bytes, p, out, lse);
    return true;
  });
}

// Di = rowsum(dO * O), the softmax backward's correction term: a warp per query row.
template <typename T>
__global__ void __launch_bounds__(kThreads) delta_kernel(int64_t rows, int64_t Hq, int64_t Lq, int Dv,
                                                         View<const T> out, View<const T> dout, acc_t<T>* delta) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * kWarps;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t b = r / (Hq * Lq), h = r / Lq % Hq, i = r % Lq;
    acc_t<T> sum = 0;
    for (int d = lane; d < Dv; d += 32) sum += acc_t<T>(dout(b, h, i, d)) * acc_t<T>(out(b, h, i, d));
    sum = warp_sum(sum);
    if (lane == 0) delta[r] = sum;
  }
}

// One block per key tile of one key/value head: dK and dV for those keys, and their
// share of dQ, over every query row of the head's group that sees them.
template <typename T>
__global__ void __launch_bounds__(kThreads) backward_kernel(Problem<T> p, View<const T> dout, const acc_t<T>* lse,
                                                            const acc_t<T>* delta, acc_t<T>* dq, T* dk, T* dv) {
  using A = acc_t<T>;
  constexpr A kNegInf = -std::numeric_limits<A>::infinity();
  extern __shared__ __align__(128) unsigned char smem[];
  const int tile = p.tile;
  const int64_t n_ktiles = (p.Lk + tile - 1) / tile, kv_head = blockIdx.x / n_ktiles;
  const int64_t b = kv_head / p.Hkv, hk = kv_head % p.Hkv, j0 = blockIdx.x % n_ktiles * tile;
  const int64_t group = p.Hq / p.Hkv;
  const BackwardSmem<T> sm(reinterpret_cast<uintptr_t>(smem), tile, p.Dp, p.Dvp);

  stage(sm.K, p.k, b, hk, j0, p.Lk, tile, p.D, p.Dp);
  stage(sm.V, p.v, b, hk, j0, p.Lk, tile, p.Dv, p.Dvp);
  fill(sm.dK, tile * p.Dp, A(0));
  fill(sm.dV, tile * p.Dvp, A(0));
  for (int64_t g = 0; g < group; ++g) {
    const int64_t h = hk * group + g, head = b * p.Hq + h;
    // causal: rows before j0 see none of these keys (query and key tiles have one size)
    for (int64_t i0 = p.causal ? j0 : 0; i0 < p.Lq; i0 += tile) {
      __syncthreads();  // the last query tile is done with Q, dO, P, dS and dQ
      stage(sm.Q, p.q, b, h, i0, p.Lq, tile, p.D, p.Dp);
      stage(sm.dO, dout, b, h, i0, p.Lq, tile, p.Dv, p.Dvp);
      for (int i = threadIdx.x; i < tile; i += blockDim.x) {
        const bool row = i0 + i < p.Lq;
        sm.lse[i] = row ? lse[head * p.Lq + i0 + i] : kNegInf;  // -inf: no probability, no gradient
        sm.Di[i] = row ? delta[head * p.Lq + i0 + i] : A(0);
      }
      __syncthreads();
      block_mma<false, true>(tile, tile, p.Dp, sm.Q, p.Dp, sm.K, p.Dp, sm.S, tile, false);     // S = Q K^T
      block_mma<false, true>(tile, tile, p.Dvp, sm.dO, p.Dvp, sm.V, p.Dvp, sm.dP, tile, false);  // dP = dO V^T
      __syncthreads();
      for (int e = threadIdx.x; e < tile * tile; e += blockDim.x) {
        const int i = e / tile, j = e % tile;
        const A prob = p.probability(sm.S[e], sm.lse[i], b, h, i0 + i, j0 + j);
        sm.P[e] = T(prob);
        sm.dS[e] = T(prob * (sm.dP[e] - sm.Di[i]) * p.scale);  // dS with the softmax scale folded in
      }
      __syncthreads();
      block_mma<true, false>(tile, p.Dvp, tile, sm.P, tile, sm.dO, p.Dvp, sm.dV, p.Dvp, true);  // dV += P^T dO
      block_mma<true, false>(tile, p.Dp, tile, sm.dS, tile, sm.Q, p.Dp, sm.dK, p.Dp, true);     // dK += dS^T Q
      if constexpr (kStagedDq<T>) {
        block_mma<false, false>(tile, p.Dp, tile, sm.dS, tile, sm.K, p.Dp, sm.dQ, p.Dp, false);  // dQ = dS K
        __syncthreads();
      }
      for (int e = threadIdx.x; e < tile * p.Dp; e += blockDim.x) {
        const int i = e / p.Dp, d = e % p.Dp;
        if (i0 + i >= p.Lq || d >= p.D) continue;
        A dq_value;
        if constexpr (kStagedDq<T>) {
          dq_value = sm.dQ[e];
        } else {
          dq_value = 0;  // (dS K)[i, d], dS and K read in place
          for (int j = 0; j < tile; ++j) dq_value += A(sm.dS[i * tile + j]) * A(sm.K[j * p.Dp + d]);
        }
        atomicAdd(dq + (head * p.Lq + i0 + i) * p.D + d, dq_value);
      }
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < tile * p.Dp; e += blockDim.x) {
    const int j = e / p.Dp, d = e % p.Dp;
    if (j0 + j < p.Lk && d < p.D) dk[(kv_head * p.Lk + j0 + j) * p.D + d] = T(sm.dK[e]);
  }
  for (int e = threadIdx.x; e < tile * p.Dvp; e += blockDim.x) {
    const int j = e / p.Dvp, d = e % p.Dvp;
    if (j0 + j < p.Lk && d < p.Dv) dv[(kv_head * p.Lk + j0 + j) * p.Dv + d] = T(sm.dV[e]);
  }
}

// The backward on sm_80+ tensor cores (half, bfloat16) with FlashAttention-2's register tiling:
// a block of 4 warps takes kMmaKeys keys of one key/value head, 16 per warp, whose dK and dV
// accumulators stay in registers, and walks the query tiles (kMmaQueries rows) of the query heads
// that share them. Per tile a warp computes S^T = K Q^T and dP^T = V dO^T for its keys, P^T and
// dS^T from them in registers, and adds P^T dO to dV and dS^T Q to dK; dQ = dS K needs every
// warp's dS, so dS goes through shared memory and each warp adds a quarter of dQ into the float
// accumulator with atomics. Q and dO are staged both ways round (row-major and transposed), as
// each is a B operand along the head dim once and along the queries once.
constexpr int kMmaQueries = 32;

// backward_mma_kernel's shared memory, in elements from its start (as MmaForwardLayout): the
// key tile of K and V row-major and K transposed, the query tile of Q and dO row-major and
// transposed, dS (kMmaQueries rows of kMmaKeys keys), then the tile's logsumexp and Di in float.
template <int kDp>
struct MmaBackwardLayout {
  static constexpr int kLd = kDp + kMmaPad, kLdKeys = kMmaKeys + kMmaPad, kLdQueries = kMmaQueries + kMmaPad;
  static constexpr int kK = 0, kV = kK + kMmaKeys * kLd, kKt = kV + kMmaKeys * kLd, kQ = kKt + kDp * kLdKeys;
  static constexpr int kdO = kQ + kMmaQueries * kLd, kQt = kdO + kMmaQueries * kLd, kdOt = kQt + kDp * kLdQueries;
  static constexpr int kdS = kdOt + kDp * kLdQueries, kStats = kdS + kMmaQueries * kLdKeys;
  static constexpr size_t bytes(size_t element) { return kStats * element + 2 * kMmaQueries * sizeof(float); }
};

template <typename T, int kDp>
__global__ void __launch_bounds__(kThreads)
    backward_mma_kernel(Problem<T> p, View<const T> dout, bool dout_chunked, const float* lse, const float* delta,
                        float* dq, T* dk, T* dv) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  using Layout = MmaBackwardLayout<kDp>;
  constexpr int kLd = Layout::kLd, kLdKeys = Layout::kLdKeys, kLdQueries = Layout::kLdQueries;
  constexpr int kSteps = kDp / 16, kQueryCols = kMmaQueries / 8, kOutCols = kDp / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  T* const base = reinterpret_cast<T*>(smem);
  T *const Ks = base + Layout::kK, *const Vs = base + Layout::kV, *const Kt = base + Layout::kKt;
  T *const Qs = base + Layout::kQ, *const dOs = base + Layout::kdO;
  T *const Qt = base + Layout::kQt, *const dOt = base + Layout::kdOt, *const dSs = base + Layout::kdS;
  float* const lse_s = reinterpret_cast<float*>(base + Layout::kStats);
  float* const delta_s = lse_s + kMmaQueries;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t n_ktiles = (p.Lk + kMmaKeys - 1) / kMmaKeys, kv_head = blockIdx.x / n_ktiles;
  const int64_t b = kv_head / p.Hkv, hk = kv_head % p.Hkv, j0 = blockIdx.x % n_ktiles * kMmaKeys;
  const int64_t group = p.Hq / p.Hkv;
  const int key0 = warp * 16 + g;  // this lane's keys in the tile: key0 and key0 + 8

  stage_chunks<false, kDp>(Ks, kLd, p.k, b, hk, j0, p.Lk, p.D, kMmaKeys, p.chunked);
  stage_chunks<false, kDp>(Vs, kLd, p.v, b, hk, j0, p.Lk, p.Dv, kMmaKeys, p.chunked);
  stage_chunks<true, kDp>(Kt, kLdKeys, p.k, b, hk, j0, p.Lk, p.D, kMmaKeys, p.chunked);
  float dk_acc[kOutCols][4] = {}, dv_acc[kOutCols][4] = {};
  for (int64_t member = 0; member < group; ++member) {
    const int64_t h = hk * group + member, head = b * p.Hq + h;
    // causal: rows before j0 see none of these keys (kMmaQueries divides kMmaKeys)
    for (int64_t i0 = p.causal ? j0 : 0; i0 < p.Lq; i0 += kMmaQueries) {
      __syncthreads();  // K and V are staged; every warp is done with the last tile's Q, dO and dS
      stage_chunks<false, kDp>(Qs, kLd, p.q, b, h, i0, p.Lq, p.D, kMmaQueries, p.chunked);
      stage_chunks<false, kDp>(dOs, kLd, dout, b, h, i0, p.Lq, p.Dv, kMmaQueries, dout_chunked);
      stage_chunks<true, kDp>(Qt, kLdQueries, p.q, b, h, i0, p.Lq, p.D, kMmaQueries, p.chunked);
      stage_chunks<true, kDp>(dOt, kLdQueries, dout, b, h, i0, p.Lq, p.Dv, kMmaQueries, dout_chunked);
      for (int i = threadIdx.x; i < kMmaQueries; i += blockDim.x) {
        const bool row = i0 + i < p.Lq;
        lse_s[i] = row ? lse[head * p.Lq + i0 + i] : kNegInf;  // -inf: no probability, no gradient
        delta_s[i] = row ? delta[head * p.Lq + i0 + i] : 0.f;
      }
      __syncthreads();
      float s[kQueryCols][4] = {}, dp[kQueryCols][4] = {};  // S^T and dP^T, 8 queries per column tile
      for (int st = 0; st < kSteps; ++st) {
        uint32_t kf[4], vf[4];
        load_a_fragment(Ks, kLd, warp * 16, st, kf);
        load_a_fragment(Vs, kLd, warp * 16, st, vf);
        for (int n = 0; n < kQueryCols; ++n) {
          uint32_t qf[2], dof[2];
          load_b_fragment(Qs, kLd, n, st, qf);
          load_b_fragment(dOs, kLd, n, st, dof);
          mma_m16n8k16<T>(s[n], kf, qf);
          mma_m16n8k16<T>(dp[n], vf, dof);
        }
      }
      for (int n = 0; n < kQueryCols; ++n) {  // P^T, and dS^T = P^T * (dP^T - Di) with the softmax scale
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + 8 * (e / 2), query = 8 * n + 2 * t + e % 2;
          s[n][e] = p.probability(s[n][e], lse_s[query], b, h, i0 + query, j0 + key);
          dp[n][e] = s[n][e] * (dp[n][e] - delta_s[query]) * p.scale;
          dSs[query * kLdKeys + key] = T(dp[n][e]);
        }
      }
      for (int kk = 0; kk < kMmaQueries / 16; ++kk) {  // dV += P^T dO, dK += dS^T Q
        uint32_t pf[4], dsf[4];
        pack_a_fragment<T>(s[2 * kk], s[2 * kk + 1], pf);
        pack_a_fragment<T>(dp[2 * kk], dp[2 * kk + 1], dsf);
        for (int c = 0; c < kOutCols; ++c) {
          uint32_t dof[2], qf[2];
          load_b_fragment(dOt, kLdQueries, c, kk, dof);
          load_b_fragment(Qt, kLdQueries, c, kk, qf);
          mma_m16n8k16<T>(dv_acc[c], pf, dof);
          mma_m16n8k16<T>(dk_acc[c], dsf, qf);
        }
      }
      __syncthreads();  // dS is whole
      // dQ = dS K: this warp's 16 query rows (of 32) and every other 8-column tile
      const int q_row0 = 16 * (warp % 2);
      for (int c = warp / 2; c < kOutCols; c += kWarps / 2) {
        float acc[4] = {};
        for (int kk = 0; kk < kMmaKeys / 16; ++kk) {
          uint32_t dsf[4], kf[2];
          load_a_fragment(dSs, kLdKeys, q_row0, kk, dsf);
          load_b_fragment(Kt, kLdKeys, c, kk, kf);
          mma_m16n8k16<T>(acc, dsf, kf);
        }
        for (int e = 0; e < 4; ++e) {
          const int64_t row = i0 + q_row0 + g + 8 * (e / 2);
          const int d = 8 * c + 2 * t + e % 2;
          if (row < p.Lq && d < p.D) atomicAdd(dq + (head * p.Lq + row) * p.D + d, acc[e]);
        }
      }
    }
  }
  for (int e = 0; e < 4; ++e) {
    const int64_t key = j0 + key0 + 8 * (e / 2);
    if (key >= p.Lk) continue;
    for (int c = 0; c < kOutCols; ++c) {
      const int d = 8 * c + 2 * t + e % 2;
      if (d < p.D) dk[(kv_head * p.Lk + key) * p.D + d] = T(dk_acc[c][e]);
      if (d < p.Dv) dv[(kv_head * p.Lk + key) * p.Dv + d] = T(dv_acc[c][e]);
    }
  }
}

// Runs backward_mma_kernel where its tiles fit; false where they do not.
template <typename T, typename Launch>
bool backward_mma(const Problem<T>& p, View<const T> dout, bool dout_chunked, const float* lse, const float* delta,
                  float* dq, T* dk, T* dv, const Launch& launch) {
  return with_register_tiles(p, launch, [&](auto padded) {
    constexpr int kDp = decltype(padded)::value;
    const size_t bytes = MmaBackwardLayout<kDp>::bytes(sizeof(T));
    if (bytes > launch.shared_bytes) return false;
    const int64_t blocks = p.B * p.Hkv * ((p.Lk + kMmaKeys - 1) / kMmaKeys);
    if (blocks > 0) launch(backward_mma_kernel<T, kDp>, blocks, bytes, p, dout, dout_chunked, lse, delta, dq, dk, dv);
    return true;
  });
}

// Whether every 8-element run of t's head dim starting at a multiple of 8 is 16 contiguous,
// 16-byte aligned bytes (a half-type tensor with unit head-dim stride, as q, k and v mostly are).
inline bool chunk_readable(const at::Tensor& t) {
  constexpr int64_t kChunk = 8;
  return t.element_size() == 2 && t.size(3) % kChunk == 0 && t.stride(3) == 1 &&
         t.stride(0) % kChunk == 0 && t.stride(1) % kChunk == 0 && t.stride(2) % kChunk == 0 &&
         reinterpret_cast<uintptr_t>(t.const_data_ptr()) % 16 == 0;
}

template <typename T>
Problem<T> problem_of(const Shape& s, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const std::optional<at::Tensor>& mask, bool causal, double scale) {
  Problem<T> p{view_of<const T>(q), view_of<const T>(k), view_of<const T>(v)};
  p.mask = mask.has_value() ? mask->const_data_ptr() : nullptr;
  p.mask_is_bool = mask.has_value() && mask->scalar_type() == at::kBool;
  p.causal = causal;
  p.chunked = chunk_readable(q) && chunk_readable(k) && chunk_readable(v);
  p.mb = mask.has_value() ? mask->stride(0) : 0, p.mh = mask.has_value() ? mask->stride(1) : 0;
  p.mi = mask.has_value() ? mask->stride(2) : 0, p.mj = mask.has_value() ? mask->stride(3) : 0;
  p.B = s.B, p.Hq = s.Hq, p.Hkv = s.Hkv, p.Lq = s.Lq, p.Lk = s.Lk;
  p.D = int(s.D), p.Dv = int(s.Dv), p.Dp = int(round_up(s.D, 16)), p.Dvp = int(round_up(s.Dv, 16));
  p.scale = acc_t<T>(scale);
  return p;
}

constexpr int kTileChoices[] = {64, 32, 16};  // query rows = key rows per tile

// The largest tile up to max_tile whose shared memory fits in limit bytes; sets p.tile and returns the bytes.
template <typename Smem, typename T>
size_t choose_tile(Problem<T>& p, size_t limit, int max_tile, const char* op) {
  for (int tile : kTileChoices) {
    const size_t bytes = Smem(0, tile, p.Dp, p.Dvp).bytes;
    if (tile <= max_tile && bytes <= limit) {
      p.tile = tile;
      return bytes;
    }
  }
  TORCH_CHECK(false, op, ": head dims (", p.D, ", ", p.Dv, ") in ", c10::CppTypeToScalarType<T>::value,
              " need more shared memory than a block gets (", limit, " bytes)");
}

// The host side, for any `launch` with `launch(kernel, blocks, shared_bytes, args...)` and
// members shared_bytes (per block), max_tile and register_tiles (whether mma.sync runs):
// attention_cuda.cu's launches on the GPU, tests/ops/emulated/attention.cpp's in the host emulation.
template <typename Launch>
std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                           const std::optional<at::Tensor>& mask, bool is_causal, double scale,
                                           const Launch& launch) {
  const Shape s = check_args(q, k, v, mask);
  // out laid out (B, Lq, Hq, Dv) as the CPU kernel's; the logsumexp in the accumulate type
  at::Tensor out = at::empty({s.B, s.Lq, s.Hq, s.Dv}, q.options()).transpose(1, 2);
  at::Tensor lse = at::empty({s.B, s.Hq, s.Lq}, q.options().dtype(at::toOpMathType(q.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "attention_forward_cuda", [&] {
    Problem<scalar_t> p = problem_of<scalar_t>(s, q, k, v, mask, is_causal, scale);
    if constexpr (TensorCoreType<scalar_t>::value) {
      if (forward_mma(p, view_of<scalar_t>(out), lse.mutable_data_ptr<float>(), launch)) return;
    }
    const size_t bytes = choose_tile<ForwardSmem<scalar_t>>(p, launch.shared_bytes, launch.max_tile, "attention_forward");
    const int64_t blocks = s.B * s.Hq * ((s.Lq + p.tile - 1) / p.tile);
    if (blocks > 0) launch(forward_kernel<scalar_t>, blocks, bytes, p, view_of<scalar_t>(out), lse.mutable_data_ptr<acc_t<scalar_t>>());
  });
  return {out, lse};
}

template <typename Launch>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& q,
                                                        const at::Tensor& k, const at::Tensor& v,
                                                        const std::optional<at::Tensor>& mask, const at::Tensor& out,
                                                        const at::Tensor& lse, bool is_causal, double scale,
                                                        const Launch& launch) {
  const Shape s = check_args(q, k, v, mask);
  check_backward_args(grad_out, out, lse, s);
  const at::ScalarType acc_type = at::toOpMathType(q.scalar_type());
  ZOO_CHECK_ARG(lse.scalar_type() == acc_type, "attention_backward", "lse", "must be ", acc_type,
                " (what the forward returns), got ", lse.scalar_type());
  const at::Tensor lc = lse.contiguous();
  at::Tensor delta = at::empty({s.B, s.Hq, s.Lq}, lse.options());
  at::Tensor dq = at::zeros(q.sizes(), lse.options());  // accumulated by atomics in the accumulate type
  // the gradients are contiguous, as the fake kernel says
  at::Tensor dk = at::empty(k.sizes(), k.options()), dv = at::empty(v.sizes(), v.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "attention_backward_cuda", [&] {
    using A = acc_t<scalar_t>;
    const int64_t rows = s.B * s.Hq * s.Lq;
    if (rows > 0) {
      launch(delta_kernel<scalar_t>, std::min<int64_t>((rows + kWarps - 1) / kWarps, 65535LL * 16), 0, rows, s.Hq,
             s.Lq, int(s.Dv), view_of<const scalar_t>(out), view_of<const scalar_t>(grad_out),
             delta.mutable_data_ptr<A>());
    }
    Problem<scalar_t> p = problem_of<scalar_t>(s, q, k, v, mask, is_causal, scale);
    if constexpr (TensorCoreType<scalar_t>::value) {
      if (backward_mma(p, view_of<const scalar_t>(grad_out), chunk_readable(grad_out), lc.const_data_ptr<A>(),
                       delta.const_data_ptr<A>(), dq.mutable_data_ptr<A>(), dk.mutable_data_ptr<scalar_t>(),
                       dv.mutable_data_ptr<scalar_t>(), launch)) {
        return;
      }
    }
    const size_t bytes = choose_tile<BackwardSmem<scalar_t>>(p, launch.shared_bytes, launch.max_tile, "attention_backward");
    const int64_t blocks = s.B * s.Hkv * ((s.Lk + p.tile - 1) / p.tile);
    if (blocks > 0) {
      launch(backward_kernel<scalar_t>, blocks, bytes, p, view_of<const scalar_t>(grad_out), lc.const_data_ptr<A>(),
             delta.const_data_ptr<A>(), dq.mutable_data_ptr<A>(), dk.mutable_data_ptr<scalar_t>(),
             dv.mutable_data_ptr<scalar_t>());
    }
  });
  return {dq.to(q.scalar_type()), dk, dv};
}

}  // namespace zoo::attention::kernels
