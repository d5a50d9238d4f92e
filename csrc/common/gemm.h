// Our register-blocked micro-GEMM over at::vec, for the small tile products
// inside fused kernels (attention tiles, recurrent steps), where calling a BLAS
// per tile would cost more in overhead than the product itself.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>

#include "common/huge_pages.h"

namespace zoo {

using at::vec::Vectorized;

// The rows of a register tile: 2 x 6 accumulators, a broadcast and two B vectors fit AVX2's 16
// registers. With AVX-512's 32 registers, kMaxTileRows = 12 fit, which load B half as often per
// FMA: matmul and gemm_block take them where that is faster (tall_tiles_are_faster).
constexpr int kTileRows = 6;
#if defined(CPU_CAPABILITY_AVX512)
constexpr int kMaxTileRows = 12;
#else
constexpr int kMaxTileRows = kTileRows;
#endif

// MR rows of accumulators, two vectors each, as nested structs rather than an array: GCC
// splits a struct into its fields, which then stay in registers, but keeps an array of this many
// vectors in memory, a store and a load of every accumulator around each call (7-8% more time in
// a causal attention forward's tiles on an AMD EPYC).
template <typename Vec, int MR>
struct TileRows {
  Vec lo, hi;
  TileRows<Vec, MR - 1> rest;

  template <int I>
  C10_ALWAYS_INLINE TileRows<Vec, MR - I>& row() {
    if constexpr (I == 0) {
      return *this;
    } else {
      return rest.template row<I - 1>();
    }
  }
};

template <typename Vec>
struct TileRows<Vec, 0> {};

// An MR-row (MR <= kMaxTileRows) by up-to-two-vector tile of C held in registers: madd
// adds A (MR x K) * B (K x n_cols, row-major, row stride ldb) and may be called
// several times (a convolution sums its filter taps) before one store.
// A(m, k) is A[m * a_m + k * a_k]: A's elements are broadcast, so a transposed A
// costs nothing. Every loop over the accumulators is unrolled, so GCC keeps them in
// registers.
template <typename T, int MR>
struct Tile {
  static_assert(MR >= 1 && MR <= kMaxTileRows);
  using Vec = Vectorized<T>;
  using Rows = TileRows<Vec, MR>;
  static constexpr int64_t V = Vec::size();
  static constexpr auto kRows = std::make_integer_sequence<int, MR>{};
  int64_t n0, n1;  // columns in the first and second vector
  Rows c;

  explicit Tile(int64_t n_cols) : n0(std::min<int64_t>(n_cols, V)), n1(n_cols - n0) {
    for_rows([&](auto i) { row(c, i).lo = row(c, i).hi = Vec(T(0)); });
  }

  // f(std::integral_constant<int, i>{}) for every row i: the accumulators are indexed by
  // constants from the start, so GCC keeps them in registers (a loop over them, even
  // unrolled, leaves them in memory).
  template <typename F>
  static C10_ALWAYS_INLINE void for_rows(F&& f) {
    [&]<int... I>(std::integer_sequence<int, I...>) C10_ALWAYS_INLINE_ATTRIBUTE {
      (f(std::integral_constant<int, I>{}), ...);
    }(kRows);
  }

  // Row i (a std::integral_constant) of the accumulators.
  template <typename I>
  static C10_ALWAYS_INLINE auto& row(Rows& rows, I) {
    return rows.template row<I::value>();
  }

  C10_ALWAYS_INLINE void madd(int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb) {
    // Locals, not members, in the loop: A and B may alias members as far as the
    // compiler knows, which would keep every accumulator in memory.
    Rows r = c;
    auto step = [&](int64_t k, const Vec& b0, const Vec& b1) C10_ALWAYS_INLINE_ATTRIBUTE {
      const T* a = A + k * a_k;
      for_rows([&](auto i) C10_ALWAYS_INLINE_ATTRIBUTE {
        const Vec x(a[i * a_m]);
        auto& acc = row(r, i);
        acc.lo = at::vec::fmadd(x, b0, acc.lo), acc.hi = at::vec::fmadd(x, b1, acc.hi);
      });
    };
    // One vector's columns alone (16-channel convs): only the first column's FMAs, not a
    // second set against zeros that would halve the tile's speed.
    auto step_one = [&](int64_t k, const Vec& b0) C10_ALWAYS_INLINE_ATTRIBUTE {
      const T* a = A + k * a_k;
      for_rows([&](auto i) C10_ALWAYS_INLINE_ATTRIBUTE { row(r, i).lo = at::vec::fmadd(Vec(a[i * a_m]), b0, row(r, i).lo); });
    };
    if (n1 == V) {  // full tile: the hot path
      for (int64_t k = 0; k < K; ++k) step(k, Vec::loadu(B + k * ldb), Vec::loadu(B + k * ldb + V));
    } else if (n1 == 0 && n0 == V) {
      for (int64_t k = 0; k < K; ++k) step_one(k, Vec::loadu(B + k * ldb));
    } else if (n1 == 0) {
      for (int64_t k = 0; k < K; ++k) step_one(k, Vec::loadu(B + k * ldb, n0));
    } else {
      for (int64_t k = 0; k < K; ++k) {
        step(k, Vec::loadu(B + k * ldb, n0), n1 > 0 ? Vec::loadu(B + k * ldb + V, n1) : Vec(T(0)));
      }
    }
    c = r;
  }

  // C (=|+=) the tile; C's rows are ldc apart.
  C10_ALWAYS_INLINE void store(T* C, int64_t ldc, bool accumulate) {
    for_rows([&](auto i) C10_ALWAYS_INLINE_ATTRIBUTE {
      T* out = C + i * ldc;
      Vec lo = row(c, i).lo, hi = row(c, i).hi;
      if (accumulate) lo = lo + Vec::loadu(out, n0);
      lo.store(out, n0);
      if (n1 > 0) {
        if (accumulate) hi = hi + Vec::loadu(out + V, n1);
        hi.store(out + V, n1);
      }
    });
  }
};

// C (M x N, row stride ldc) = or += A (M x K) * B (K x N): one MR-row tile over all of K.
template <typename T, int MR>
void gemm_tile(int64_t n_cols, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
               T* C, int64_t ldc, bool accumulate) {
  Tile<T, MR> tile(n_cols);
  tile.madd(K, A, a_m, a_k, B, ldb);
  tile.store(C, ldc, accumulate);
}

// Calls f(std::integral_constant<int, MR>{}) with MR = rows (1-MaxRows): a tile height known
// only at run time, mapped onto the compiled ones.
template <int MaxRows = kTileRows, typename F>
void with_tile_rows(int64_t rows, F&& f) {
  if constexpr (MaxRows > 1) {
    if (rows < MaxRows) return with_tile_rows<MaxRows - 1>(rows, std::forward<F>(f));
  }
  f(std::integral_constant<int, MaxRows>{});
}

// Calls f(m, rows) for the register tiles that cover M rows: MR-row tiles, then the rows left.
// A tile of a few rows loads B for few FMAs; up to MR / 2 rows left join the last MR as two
// tiles (MR = 6, 32 rows: 6, 6, 6, 6, 4, 4 rather than 6, 6, 6, 6, 6, 2).
template <int MR = kTileRows, typename F>
void for_each_row_tile(int64_t M, F&& f) {
  const int64_t tail = M > MR && M % MR > 0 && M % MR <= MR / 2 ? MR + M % MR : M % MR;
  int64_t m = 0;
  for (; m + tail < M; m += MR) f(m, int64_t(MR));
  const int64_t first = tail > MR ? (tail + 1) / 2 : tail;
  if (first > 0) f(m, first);
  if (M > m + first) f(m + first, M - m - first);
}

// Whether register tiles take kMaxTileRows rather than kTileRows rows. The taller
// tile loads B half as often per FMA: 1-9% faster on a Xeon (AVX-512), but 6-13% slower on an
// AMD EPYC (Zen 4, whose AVX-512 runs as two 256-bit halves), timed on linear's 256-1024-row
// products; so the CPU's vendor decides, at run time.
inline bool tall_tiles_are_faster() {
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool intel = __builtin_cpu_is("intel");
  return kMaxTileRows > kTileRows && intel;
#else
  return false;
#endif
}

// One block of at most panel-width columns, a row tile (of at most MR rows) at a time.
template <typename T, int MR>
void gemm_block_rows(int64_t M, int64_t n_cols, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B,
                     int64_t ldb, T* C, int64_t ldc, bool accumulate) {
  for_each_row_tile<MR>(M, [&](int64_t m, int64_t rows) {
    with_tile_rows<MR>(rows, [&](auto mr) {
      gemm_tile<T, mr>(n_cols, K, A + m * a_m, a_m, a_k, B, ldb, C + m * ldc, ldc, accumulate);
    });
  });
}

// gemm_block_rows with the register tile height that is faster on this CPU.
template <typename T>
void gemm_block(int64_t M, int64_t n_cols, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
                T* C, int64_t ldc, bool accumulate) {
  if (tall_tiles_are_faster()) {
    return gemm_block_rows<T, kMaxTileRows>(M, n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
  }
  gemm_block_rows<T, kTileRows>(M, n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
}

// C (M x N) = or += A (M x K) * B (K x N); see gemm_tile for the operand layouts.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool accumulate) {
  constexpr int64_t NR = 2 * Vectorized<T>::size();
  for (int64_t n = 0; n < N; n += NR) {  // a K x NR panel of B stays in L1 across the rows
    gemm_block(M, std::min(NR, N - n), K, A, a_m, a_k, B + n, ldb, C + n, ldc, accumulate);
  }
}

// Columns per packed panel: the width of one gemm_tile.
template <typename T>
constexpr int64_t panel_width() {
  return 2 * Vectorized<T>::size();
}

// B (K x N; B(k, n) = B[k * ldb + n * b_n]) repacked as column panels: panel p
// holds columns [p*NR, p*NR + NR) as K contiguous rows of NR (zero-padded). A
// GEMM then reads B with unit stride; a large power-of-two ldb would map every
// row of a panel to the same few L1 sets. Worth it when B is reused, as
// recurrent weights are at every time step. b_n = ldb-of-the-transpose packs B^T.
template <typename T>
void pack_panel(int64_t p, int64_t K, int64_t N, const T* B, int64_t ldb, int64_t b_n, T* panel) {
  constexpr int64_t NR = panel_width<T>();
  constexpr int64_t kStep = 16;  // rows per pass: both B's and the panel's lines stay in L1 whatever the strides
  const int64_t cols = std::min(NR, N - p * NR);
  if (b_n == 1) {  // B's rows are the panel's rows: a copy per row
    using Vec = Vectorized<T>;
    for (int64_t k = 0; k < K; ++k) {
      const T* src = B + k * ldb + p * NR;
      T* dst = panel + k * NR;
      if (cols == NR) {  // two vector moves, not a memmove call per row
        Vec::loadu(src).store(dst), Vec::loadu(src + Vec::size()).store(dst + Vec::size());
      } else {
        std::copy_n(src, cols, dst);
        std::fill(dst + cols, dst + NR, T(0));
      }
    }
    return;
  }
  if (ldb == 1) {  // B^T's rows are the panel's columns: a vectorized transpose
    at::vec::transpose_mxn<T>(B + p * NR * b_n, b_n, panel, NR, int(cols), int(K));
    for (int64_t k = 0; k < K && cols < NR; ++k) std::fill(panel + k * NR + cols, panel + (k + 1) * NR, T(0));
    return;
  }
  for (int64_t k0 = 0; k0 < K; k0 += kStep) {
    const int64_t k1 = std::min(K, k0 + kStep);
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t k = k0; k < k1; ++k) panel[k * NR + c] = B[k * ldb + (p * NR + c) * b_n];
    for (int64_t k = k0; k < k1; ++k) std::fill(panel + k * NR + cols, panel + (k + 1) * NR, T(0));
  }
}

template <typename T>
std::vector<T> pack_panels(int64_t K, int64_t N, const T* B, int64_t ldb, int64_t b_n = 1) {
  constexpr int64_t NR = panel_width<T>();
  const int64_t panels = (N + NR - 1) / NR;
  std::vector<T> packed(panels * K * NR);
  for (int64_t p = 0; p < panels; ++p) pack_panel(p, K, N, B, ldb, b_n, packed.data() + p * K * NR);
  return packed;
}

// Columns [n0, n1) of C (M x N) = or += A (M x K) * B, with B from pack_panels;
// n0 must be a multiple of panel_width<T>().
template <typename T>
void gemm_panels(int64_t M, int64_t n0, int64_t n1, int64_t K, const T* A, int64_t a_m, int64_t a_k,
                 const T* packed, T* C, int64_t ldc, bool accumulate) {
  constexpr int64_t NR = panel_width<T>();
  for (int64_t n = n0; n < n1; n += NR) {
    gemm_block(M, std::min(NR, n1 - n), K, A, a_m, a_k, packed + (n / NR) * K * NR, NR, C + n, ldc, accumulate);
  }
}

// A's rows [m0, m1), columns [k0, k0 + depth) repacked as MR-row micro-panels: panel q holds
// rows m0 + MR q .. m0 + MR q + MR - 1 as depth steps of MR values, which a tile reads with
// a_m = 1, a_k = MR. For an A whose rows are strided (a transposed operand, as in a weight
// gradient g^T x): read in place, every step of a tile would touch a new line, often a new page.
template <int MR, typename T>
void pack_row_block(int64_t m0, int64_t m1, int64_t k0, int64_t depth, const T* A, int64_t a_m, int64_t a_k,
                    T* block) {
  // Steps outermost, so A is read one step (a run of the block's rows) at a time. A micro-panel
  // at a time, every step touched a new line, and with a step stride that is a multiple of
  // 2 KiB the 256 steps' lines fell into a few L1 sets.
  for (int64_t k = 0; k < depth; ++k) {
    const T* a_k_row = A + m0 * a_m + (k0 + k) * a_k;
    for (int64_t m = m0; m < m1; m += MR) {
      const T* a = a_k_row + (m - m0) * a_m;
      T* panel = block + (m - m0) * depth + k * MR;
      if (a_m == 1 && m + MR <= m1) {
        for (int r = 0; r < MR; ++r) panel[r] = a[r];  // MR known: a few moves, not a memmove call
      } else {
        for (int64_t r = 0; r < std::min<int64_t>(MR, m1 - m); ++r) panel[r] = a[r * a_m];
      }
    }
  }
}

// Bytes of packed B that matmul multiplies every row block by before moving on. With
// several row blocks read in place, half this core's L2, so the group stays in L2 while each
// block of A passes over it: groups of 4 MiB, streamed from L3 once per row block, were 10-15%
// slower on a Xeon with 2 MiB of L2 (1024x768x3072 on one thread: 97-122 -> 110-135
// GFLOP/s). One row block reads B once whatever the group, and smaller groups only add
// parallel_for calls (an 8-row linear's forward+backward, 768 -> 2304: 1.6 -> 2.2 ms with
// half-L2 groups there too), so it takes 4 MiB, which keeps the packing buffer small however
// wide or deep B is. So does an A that is packed (a weight gradient's g^T): each group packs
// every block of A again, and with groups of half a 512 KiB L2 (an AMD EPYC, Zen 3) that
// repacking cost more than B from L3 saves: with 4 MiB groups and pack_row_block's row-at-a-time
// reads, g^T x on 2 threads went 137-152 -> 115-122 ms at 1024 x 12800 by 12800 x 512 (MKL: 82-102)
// and 147-211 -> 113-134 ms at 3072 x 3200 by 3200 x 768 (MKL: 88-150), old and new run alternately.
inline int64_t packed_group_bytes(int64_t row_blocks, bool pack_a) {
  static constexpr int64_t kMaxBytes = int64_t(4) << 20;
  static const int64_t l2_share = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l2 > 0 ? std::clamp<int64_t>(l2 / 2, int64_t(256) << 10, kMaxBytes) : int64_t(1) << 20;
  }();
  return row_blocks > 1 && !pack_a ? l2_share : kMaxBytes;
}

// C (M x N, row stride ldc) = A (M x K) * B (K x N), A and B strided as in
// gemm_tile and pack_panels, for products too large for one thread. K is taken a
// chunk at a time, and within it B a group of panels at a time (packed_group_bytes):
// the group is packed in parallel, then its (row block, panel) pieces run in
// parallel, row-block-major. A thread takes its pieces a run at a time, the run
// sharing one row block: it walks the chunk in depth blocks and multiplies each
// depth block of A (in L2, packed first where A's rows are strided) by every panel
// of the run, so A is read from memory once per group. A depth block of the panel
// stays in L1, and each output is a sum of short sums, whose rounding error grows
// with the block depth rather than with K. epilogue(C_rows, rows, n0, cols) runs on
// each finished piece while it is in cache (bias + activation).
template <int MR, typename T, typename Epilogue>
void matmul_tiles(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
                  int64_t b_n, T* C, int64_t ldc, const Epilogue& epilogue) {
  constexpr int64_t NR = panel_width<T>();
  constexpr int64_t kRowBlock = 96;     // rows per piece: 8 or 16 register tiles
  constexpr int64_t kDepthBlock = 256;  // 32 KiB of a float panel; as fast as unblocked within 10%
  constexpr int64_t kChunkDepth = 4 * kDepthBlock;  // 128 KiB per float panel
  const bool pack_a = a_k != 1;
  const int64_t panel_size = std::clamp<int64_t>(K, 1, kChunkDepth) * NR;
  const int64_t panels = (N + NR - 1) / NR, row_blocks = (M + kRowBlock - 1) / kRowBlock;
  // rows split evenly over the blocks (a multiple of MR each): 128 rows as 96 + 32 would leave one thread a third of the work
  const int64_t row_block = ((M + row_blocks - 1) / std::max<int64_t>(row_blocks, 1) + MR - 1) / MR * MR;
  // at least a panel per thread: a deep B (a backward's grad_x over a 50k vocabulary) must not serialize
  const int64_t group = std::clamp<int64_t>(packed_group_bytes(row_blocks, pack_a) / (panel_size * int64_t(sizeof(T))),
                                            std::min<int64_t>(panels, at::get_num_threads()), std::max<int64_t>(panels, 1));
  std::unique_ptr<T[]> packed(new T[group * panel_size]);  // every element is written by pack_panel
  for (int64_t kc = 0; kc < K || kc == 0; kc += kChunkDepth) {  // K = 0 still stores zeros
    const int64_t chunk_end = std::min(K, kc + kChunkDepth);
    for (int64_t g0 = 0; g0 < panels; g0 += group) {
      const int64_t g1 = std::min(panels, g0 + group), width = g1 - g0;
      at::parallel_for(g0, g1, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          pack_panel(p, chunk_end - kc, N, B + kc * ldb, ldb, b_n, packed.get() + (p - g0) * panel_size);
        }
      });
      at::parallel_for(0, width * row_blocks, 1, [&](int64_t begin, int64_t end) {
        std::unique_ptr<T[]> a_block(pack_a ? new T[kRowBlock * kDepthBlock] : nullptr);
        for (int64_t run = begin; run < end;) {
          const int64_t block = run / width, run_end = std::min(end, (block + 1) * width);
          const int64_t m0 = block * row_block, m1 = std::min(M, m0 + row_block);
          for (int64_t k0 = kc; k0 < chunk_end || k0 == 0; k0 += kDepthBlock) {
            const int64_t depth = std::min(kDepthBlock, chunk_end - k0);
            if (pack_a) pack_row_block<MR>(m0, m1, k0, depth, A, a_m, a_k, a_block.get());
            for (int64_t piece = run; piece < run_end; ++piece) {
              const int64_t n0 = (g0 + piece % width) * NR, cols = std::min(NR, N - n0);
              const T* panel = packed.get() + (n0 / NR - g0) * panel_size + (k0 - kc) * NR;
              for (int64_t m = m0; m < m1; m += MR) {
                const T* a = pack_a ? a_block.get() + (m - m0) * depth : A + m * a_m + k0 * a_k;
                gemm_block_rows<T, MR>(std::min<int64_t>(MR, m1 - m), cols, depth, a, pack_a ? 1 : a_m,
                                       pack_a ? MR : a_k, panel, NR, C + m * ldc + n0, ldc, k0 > 0);
              }
              if (k0 + kDepthBlock >= K) epilogue(C + m0 * ldc + n0, m1 - m0, n0, cols);
            }
          }
          run = run_end;
        }
      });
    }
  }
}

template <typename T, typename Epilogue>
void matmul(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
            int64_t b_n, T* C, int64_t ldc, const Epilogue& epilogue) {
  if (tall_tiles_are_faster()) return matmul_tiles<kMaxTileRows>(M, N, K, A, a_m, a_k, B, ldb, b_n, C, ldc, epilogue);
  matmul_tiles<kTileRows>(M, N, K, A, a_m, a_k, B, ldb, b_n, C, ldc, epilogue);
}

// a (M x K) * b (K x N), 2-D float or double tensors, on matmul(): the GEMMs of the
// backward passes. Either operand is read in place when one of its strides is 1, as
// a transpose's is (matmul packs both): a copy of a weight gradient's g^T would cost
// as much as the product.
inline at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  auto unit_strided = [](const at::Tensor& t) { return t.stride(0) == 1 || t.stride(1) == 1 ? t : t.contiguous(); };
  const at::Tensor ac = unit_strided(a), bc = unit_strided(b);
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  at::Tensor c = empty_output({M, N}, a.options());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "zoo_mm", [&] {
    matmul<scalar_t>(M, N, K, ac.const_data_ptr<scalar_t>(), ac.stride(0), ac.stride(1), bc.const_data_ptr<scalar_t>(),
                     bc.stride(0), bc.stride(1), c.mutable_data_ptr<scalar_t>(), N,
                     [](scalar_t*, int64_t, int64_t, int64_t) {});
  });
  return c;
}

}  // namespace zoo
