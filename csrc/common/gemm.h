// Our register-blocked micro-GEMM over at::vec, for the small tile products
// inside fused kernels (attention tiles, recurrent steps), where calling a BLAS
// per tile would cost more in overhead than the product itself.
#pragma once

#include <ATen/cpu/vec/vec.h>
#include <c10/macros/Macros.h>
#include <c10/util/Unroll.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace zoo {

using at::vec::Vectorized;

// An MR-row by NV-vector tile of C held in registers: madd adds A (MR x K) *
// B (K x n_cols, row-major, row stride ldb) and may be called several times (a
// convolution sums its filter taps) before one store. A(m, k) is
// A[m * a_m + k * a_k]: A's elements are broadcast, so a transposed A costs
// nothing. The loops over rows and vectors are unrolled at compile time so the
// accumulators live in registers (MR * NV of them, plus NV for B: at most 16
// with AVX2, 32 with AVX-512).
template <typename T, int MR, int NV = 2>
struct Tile {
  static_assert(MR >= 1 && NV >= 1);
  using Vec = Vectorized<T>;
  static constexpr int64_t V = Vec::size();
  int64_t n_cols;
  Vec c[MR][NV];

  explicit Tile(int64_t cols) : n_cols(cols) {
    c10::ForcedUnroll<MR>{}([&](auto m) { c10::ForcedUnroll<NV>{}([&](auto v) { c[m][v] = Vec(T(0)); }); });
  }

  // Columns of vector v that are inside the tile.
  int64_t width(int64_t v) const { return std::clamp<int64_t>(n_cols - v * V, 0, V); }

  C10_ALWAYS_INLINE void madd(int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb) {
    // A local copy in the loop: A and B may alias the members as far as the
    // compiler knows, which would keep every accumulator in memory.
    Vec acc[MR][NV];
    c10::ForcedUnroll<MR>{}([&](auto m) { c10::ForcedUnroll<NV>{}([&](auto v) { acc[m][v] = c[m][v]; }); });
    auto step = [&](int64_t k, const Vec* b) {
      const T* a = A + k * a_k;
      c10::ForcedUnroll<MR>{}([&](auto m) {
        const Vec x(a[m * a_m]);
        c10::ForcedUnroll<NV>{}([&](auto v) { acc[m][v] = at::vec::fmadd(x, b[v], acc[m][v]); });
      });
    };
    Vec b[NV];
    if (n_cols == NV * V) {  // full tile: the hot path
      for (int64_t k = 0; k < K; ++k) {
        c10::ForcedUnroll<NV>{}([&](auto v) { b[v] = Vec::loadu(B + k * ldb + v * V); });
        step(k, b);
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        c10::ForcedUnroll<NV>{}([&](auto v) {
          const int64_t w = width(v);
          b[v] = w > 0 ? Vec::loadu(B + k * ldb + v * V, w) : Vec(T(0));
        });
        step(k, b);
      }
    }
    c10::ForcedUnroll<MR>{}([&](auto m) { c10::ForcedUnroll<NV>{}([&](auto v) { c[m][v] = acc[m][v]; }); });
  }

  // C (=|+=) the tile; C's rows are ldc apart.
  C10_ALWAYS_INLINE void store(T* C, int64_t ldc, bool accumulate) const {
    c10::ForcedUnroll<MR>{}([&](auto m) {
      c10::ForcedUnroll<NV>{}([&](auto v) {
        const int64_t w = width(v);
        if (w == 0) return;
        T* out = C + m * ldc + v * V;
        Vec value = c[m][v];
        if (accumulate) value = value + Vec::loadu(out, w);
        value.store(out, w);
      });
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

// One block of at most panel-width columns: 4-row tiles, then one tile of the 1-3 rows left.
template <typename T>
void gemm_block(int64_t M, int64_t n_cols, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
                T* C, int64_t ldc, bool accumulate) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) gemm_tile<T, 4>(n_cols, K, A + m * a_m, a_m, a_k, B, ldb, C + m * ldc, ldc, accumulate);
  A += m * a_m, C += m * ldc;
  switch (M - m) {
    case 3: return gemm_tile<T, 3>(n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
    case 2: return gemm_tile<T, 2>(n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
    case 1: return gemm_tile<T, 1>(n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
    default: return;
  }
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

// Columns per packed panel: the width of one gemm_tile, or of an NV-vector Tile.
template <typename T, int NV = 2>
constexpr int64_t panel_width() {
  return NV * Vectorized<T>::size();
}

// B (K x N, row stride ldb) repacked as column panels: panel p holds columns
// [p*NR, p*NR + NR) as K contiguous rows of NR (zero-padded). A GEMM then reads
// B with unit stride; a large power-of-two ldb would map every row of a panel to
// the same few L1 sets. Worth it when B is reused, as recurrent weights are at
// every time step.
template <typename T, int NV = 2>
std::vector<T> pack_panels(int64_t K, int64_t N, const T* B, int64_t ldb) {
  constexpr int64_t NR = panel_width<T, NV>();
  const int64_t panels = (N + NR - 1) / NR;
  std::vector<T> packed(panels * K * NR, T(0));
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < NR && p * NR + c < N; ++c) packed[(p * K + k) * NR + c] = B[k * ldb + p * NR + c];
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

}  // namespace zoo
