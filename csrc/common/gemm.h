// Our register-blocked micro-GEMM over at::vec, for the small tile products
// inside fused kernels (attention tiles, recurrent steps), where calling a BLAS
// per tile would cost more in overhead than the product itself.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>

namespace zoo {

using at::vec::Vectorized;

// C (M x N, row stride ldc) = or += A (M x K) * B (K x N, row-major, row stride ldb).
// A(m, k) is A[m * a_m + k * a_k]: A's elements are broadcast, so a transposed A
// costs nothing. One call computes an MR-row (MR <= 4) by up to two-vector tile
// over all of K. The accumulators are named variables, not an array: GCC spills
// an array of Vectorized to the stack on every iteration.
template <typename T, int MR>
void gemm_tile(int64_t n_cols, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb,
               T* C, int64_t ldc, bool accumulate) {
  static_assert(MR >= 1 && MR <= 4);
  using Vec = Vectorized<T>;
  constexpr int64_t V = Vec::size();
  const int64_t n0 = std::min<int64_t>(n_cols, V), n1 = n_cols - n0;
  Vec c00(T(0)), c01(T(0)), c10(T(0)), c11(T(0)), c20(T(0)), c21(T(0)), c30(T(0)), c31(T(0));
  auto step = [&](int64_t k, const Vec& b0, const Vec& b1) {
    const T* a = A + k * a_k;
    Vec x(a[0]);
    c00 = at::vec::fmadd(x, b0, c00), c01 = at::vec::fmadd(x, b1, c01);
    if constexpr (MR > 1) x = Vec(a[a_m]), c10 = at::vec::fmadd(x, b0, c10), c11 = at::vec::fmadd(x, b1, c11);
    if constexpr (MR > 2) x = Vec(a[2 * a_m]), c20 = at::vec::fmadd(x, b0, c20), c21 = at::vec::fmadd(x, b1, c21);
    if constexpr (MR > 3) x = Vec(a[3 * a_m]), c30 = at::vec::fmadd(x, b0, c30), c31 = at::vec::fmadd(x, b1, c31);
  };
  if (n_cols == 2 * V) {  // full tile: the hot path
    for (int64_t k = 0; k < K; ++k) step(k, Vec::loadu(B + k * ldb), Vec::loadu(B + k * ldb + V));
  } else {
    for (int64_t k = 0; k < K; ++k) {
      step(k, Vec::loadu(B + k * ldb, n0), n1 > 0 ? Vec::loadu(B + k * ldb + V, n1) : Vec(T(0)));
    }
  }
  auto store = [&](int r, Vec lo, Vec hi) {
    T* c = C + r * ldc;
    if (accumulate) lo = lo + Vec::loadu(c, n0);
    lo.store(c, n0);
    if (n1 > 0) {
      if (accumulate) hi = hi + Vec::loadu(c + V, n1);
      hi.store(c + V, n1);
    }
  };
  store(0, c00, c01);
  if constexpr (MR > 1) store(1, c10, c11);
  if constexpr (MR > 2) store(2, c20, c21);
  if constexpr (MR > 3) store(3, c30, c31);
}

// C (M x N) = or += A (M x K) * B (K x N); see gemm_tile for the operand layouts.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_m, int64_t a_k, const T* B, int64_t ldb, T* C,
          int64_t ldc, bool accumulate) {
  constexpr int64_t NR = 2 * Vectorized<T>::size();
  for (int64_t n = 0; n < N; n += NR) {  // a K x NR panel of B stays in L1 across the rows
    const int64_t nc = std::min(NR, N - n);
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) gemm_tile<T, 4>(nc, K, A + m * a_m, a_m, a_k, B + n, ldb, C + m * ldc + n, ldc, accumulate);
    for (; m < M; ++m) gemm_tile<T, 1>(nc, K, A + m * a_m, a_m, a_k, B + n, ldb, C + m * ldc + n, ldc, accumulate);
  }
}

}  // namespace zoo
