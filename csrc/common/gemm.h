// Our register-blocked micro-GEMM over at::vec, for the small tile products
// inside fused kernels (attention tiles, recurrent steps), where calling a BLAS
// per tile would cost more in overhead than the product itself.
#pragma once

#include <ATen/cpu/vec/vec.h>
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace zoo {

using at::vec::Vectorized;

// An MR-row (MR <= 6) by up-to-two-vector tile of C held in registers: madd
// adds A (MR x K) * B (K x n_cols, row-major, row stride ldb) and may be called
// several times (a convolution sums its filter taps) before one store.
// A(m, k) is A[m * a_m + k * a_k]: A's elements are broadcast, so a transposed A
// costs nothing. The accumulators are named members, not an array: GCC spills
// an array of Vectorized to the stack on every iteration.
template <typename T, int MR>
struct Tile {
  static_assert(MR >= 1 && MR <= 6);
  using Vec = Vectorized<T>;
  static constexpr int64_t V = Vec::size();
  int64_t n0, n1;  // columns in the first and second vector
  Vec c00{T(0)}, c01{T(0)}, c10{T(0)}, c11{T(0)}, c20{T(0)}, c21{T(0)};
  Vec c30{T(0)}, c31{T(0)}, c40{T(0)}, c41{T(0)}, c50{T(0)}, c51{T(0)};

  explicit Tile(int64_t n_cols) : n0(std::min<int64_t>(n_cols, V)), n1(n_cols - n0) {}

  C10_ALWAYS_INLINE void madd(int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb) {
    // Locals, not members, in the loop: A and B may alias members as far as the
    // compiler knows, which would keep every accumulator in memory.
    Vec r00 = c00, r01 = c01, r10 = c10, r11 = c11, r20 = c20, r21 = c21;
    Vec r30 = c30, r31 = c31, r40 = c40, r41 = c41, r50 = c50, r51 = c51;
    auto step = [&](int64_t k, const Vec& b0, const Vec& b1) {
      const T* a = A + k * a_k;
      Vec x(a[0]);
      r00 = at::vec::fmadd(x, b0, r00), r01 = at::vec::fmadd(x, b1, r01);
      if constexpr (MR > 1) x = Vec(a[a_m]), r10 = at::vec::fmadd(x, b0, r10), r11 = at::vec::fmadd(x, b1, r11);
      if constexpr (MR > 2) x = Vec(a[2 * a_m]), r20 = at::vec::fmadd(x, b0, r20), r21 = at::vec::fmadd(x, b1, r21);
      if constexpr (MR > 3) x = Vec(a[3 * a_m]), r30 = at::vec::fmadd(x, b0, r30), r31 = at::vec::fmadd(x, b1, r31);
      if constexpr (MR > 4) x = Vec(a[4 * a_m]), r40 = at::vec::fmadd(x, b0, r40), r41 = at::vec::fmadd(x, b1, r41);
      if constexpr (MR > 5) x = Vec(a[5 * a_m]), r50 = at::vec::fmadd(x, b0, r50), r51 = at::vec::fmadd(x, b1, r51);
    };
    if (n1 == V) {  // full tile: the hot path
      for (int64_t k = 0; k < K; ++k) step(k, Vec::loadu(B + k * ldb), Vec::loadu(B + k * ldb + V));
    } else {
      for (int64_t k = 0; k < K; ++k) {
        step(k, Vec::loadu(B + k * ldb, n0), n1 > 0 ? Vec::loadu(B + k * ldb + V, n1) : Vec(T(0)));
      }
    }
    c00 = r00, c01 = r01, c10 = r10, c11 = r11, c20 = r20, c21 = r21;
    c30 = r30, c31 = r31, c40 = r40, c41 = r41, c50 = r50, c51 = r51;
  }

  // C (=|+=) the tile; C's rows are ldc apart.
  C10_ALWAYS_INLINE void store(T* C, int64_t ldc, bool accumulate) const {
    auto row = [&](int r, Vec lo, Vec hi) {
      T* c = C + r * ldc;
      if (accumulate) lo = lo + Vec::loadu(c, n0);
      lo.store(c, n0);
      if (n1 > 0) {
        if (accumulate) hi = hi + Vec::loadu(c + V, n1);
        hi.store(c + V, n1);
      }
    };
    row(0, c00, c01);
    if constexpr (MR > 1) row(1, c10, c11);
    if constexpr (MR > 2) row(2, c20, c21);
    if constexpr (MR > 3) row(3, c30, c31);
    if constexpr (MR > 4) row(4, c40, c41);
    if constexpr (MR > 5) row(5, c50, c51);
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

// One block of at most panel-width columns: 6-row tiles, then one tile of the 1-5 rows left.
template <typename T>
void gemm_block(int64_t M, int64_t n_cols, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
                T* C, int64_t ldc, bool accumulate) {
  int64_t m = 0;
  for (; m + 6 <= M; m += 6) gemm_tile<T, 6>(n_cols, K, A + m * a_m, a_m, a_k, B, ldb, C + m * ldc, ldc, accumulate);
  A += m * a_m, C += m * ldc;
  switch (M - m) {
    case 5: return gemm_tile<T, 5>(n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
    case 4: return gemm_tile<T, 4>(n_cols, K, A, a_m, a_k, B, ldb, C, ldc, accumulate);
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

// Columns per packed panel: the width of one gemm_tile.
template <typename T>
constexpr int64_t panel_width() {
  return 2 * Vectorized<T>::size();
}

// B (K x N, row stride ldb) repacked as column panels: panel p holds columns
// [p*NR, p*NR + NR) as K contiguous rows of NR (zero-padded). A GEMM then reads
// B with unit stride; a large power-of-two ldb would map every row of a panel to
// the same few L1 sets. Worth it when B is reused, as recurrent weights are at
// every time step.
template <typename T>
std::vector<T> pack_panels(int64_t K, int64_t N, const T* B, int64_t ldb) {
  constexpr int64_t NR = panel_width<T>();
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
