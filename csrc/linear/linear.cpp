// CPU kernels of zoo::linear, y = act(x W^T + b), and its backward.
//
// A few rows of x that stay in L2 (a decoding step, a short batch of deep rows): each
// thread streams its share of W's rows once, in place, and dots every one against all
// rows of x; there is no packing copy, and a decoding step, bound by reading
// W, runs at memory bandwidth. More rows: matmul() (common/gemm.h) packs W^T
// into panels and runs our register tiles in parallel, with bias + activation
// in each tile's epilogue. The backward is the same matmul twice (grad_x = grad W, grad_W = grad^T x) and
// column sums for grad_b.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <optional>

#include "bias_act/bias_act.h"
#include "bias_act/epilogue.h"
#include "common/checks.h"
#include "common/column_sums.h"
#include "common/gemm.h"
#include "common/huge_pages.h"
#include "common/optional_tensor.h"
#include "linear/ops.h"

namespace zoo::linear {
namespace {

using at::vec::Vectorized;
using bias_act::Activation;

// The dot-product path takes x up to kDotBytes (half an L2) of at most kDotRows rows, or
// kDeepDotRows rows of at least kDeepDotDepth features: there packing W costs more than
// the register tiles save (a 4096 x 4096 W: 4.0 against 6.6 ms at 16 rows, 12.6 against
// 14.9 at 64), while shallow rows' dot products spend their time in horizontal sums.
constexpr int64_t kDotBytes = 1 << 20;
constexpr int64_t kDotRows = 8;
constexpr int64_t kDeepDotRows = 64;
constexpr int64_t kDeepDotDepth = 512;
constexpr int64_t kDotBlock = 16;  // rows of W per task, and vector accumulators per tile

// out[i][j] = xs[i] . ws[j] over K elements: XR x WR vector accumulators, each x and W vector
// loaded once per step and used WR and XR times.
template <typename T, int XR, int WR>
void dot_tile(int64_t K, const std::array<const T*, XR>& xs, const std::array<const T*, WR>& ws, T (&out)[XR][WR]) {
  using Vec = Vectorized<T>;
  constexpr int64_t V = Vec::size();
  Vec acc[XR][WR];
  auto step = [&](int64_t k, int64_t n) {
    Vec xv[XR];
#pragma GCC unroll 4
    for (int i = 0; i < XR; ++i) xv[i] = n == V ? Vec::loadu(xs[i] + k) : Vec::loadu(xs[i] + k, n);
#pragma GCC unroll 16
    for (int j = 0; j < WR; ++j) {
      const Vec wv = n == V ? Vec::loadu(ws[j] + k) : Vec::loadu(ws[j] + k, n);
#pragma GCC unroll 4
      for (int i = 0; i < XR; ++i) acc[i][j] = at::vec::fmadd(xv[i], wv, acc[i][j]);
    }
  };
#pragma GCC unroll 4
  for (int i = 0; i < XR; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < WR; ++j) acc[i][j] = Vec(T(0));
  int64_t k = 0;
  for (; k + V <= K; k += V) step(k, V);
  if (k < K) step(k, K - k);
  for (int i = 0; i < XR; ++i)
    for (int j = 0; j < WR; ++j)
      out[i][j] = at::vec::vec_reduce_all<T>([](Vec& a, Vec& b) { return a + b; }, acc[i][j]);
}

// y's rows [i0, i0 + XR), columns [j0, j0 + nj) (nj <= kDotBlock), in tiles of XR x (kDotBlock / XR):
// a tile past W's last row repeats that row and stores nothing for it.
template <typename T, int XR>
void dot_rows_block(int64_t i0, int64_t j0, int64_t nj, int64_t N, int64_t K, const T* x, const T* w, T* y) {
  constexpr int WR = kDotBlock / XR;
  std::array<const T*, XR> xs;
  for (int i = 0; i < XR; ++i) xs[i] = x + (i0 + i) * K;
  for (int64_t jt = j0; jt < j0 + nj; jt += WR) {
    std::array<const T*, WR> ws;
    for (int j = 0; j < WR; ++j) ws[j] = w + std::min(jt + j, N - 1) * K;
    T out[XR][WR];
    dot_tile<T, XR, WR>(K, xs, ws, out);
    for (int i = 0; i < XR; ++i) std::copy_n(out[i], std::min<int64_t>(WR, j0 + nj - jt), y + (i0 + i) * N + jt);
  }
}

// y (M x N) = act(x W^T + b) for x of at most kDotBytes, in parallel over blocks of W's rows.
// x is taken 4 rows at a time, its last 1-3 rows 2 or 1 at a time against more rows of W: a
// decoding step's single row does no repeated work.
template <typename T>
void dot_rows(int64_t M, int64_t N, int64_t K, const T* x, const T* w, const T* bias, Activation act, T* y) {
  at::parallel_for(0, (N + kDotBlock - 1) / kDotBlock, 1, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const int64_t j0 = block * kDotBlock, nj = std::min(kDotBlock, N - j0);
      for (int64_t i0 = 0; i0 < M;) {
        const int64_t rows = M - i0 >= 4 ? 4 : M - i0 >= 2 ? 2 : 1;
        if (rows == 4) dot_rows_block<T, 4>(i0, j0, nj, N, K, x, w, y);
        else if (rows == 2) dot_rows_block<T, 2>(i0, j0, nj, N, K, x, w, y);
        else dot_rows_block<T, 1>(i0, j0, nj, N, K, x, w, y);
        bias_act::epilogue(rows, nj, y + i0 * N + j0, N, bias == nullptr ? nullptr : bias + j0, act);
        i0 += rows;
      }
    }
  });
}

template <typename T>
void forward_kernel(int64_t M, int64_t N, int64_t K, const T* x, const T* w, const T* bias, Activation act, T* y) {
  const bool few_rows = M <= kDotRows || (M <= kDeepDotRows && K >= kDeepDotDepth);
  if (few_rows && M * K * static_cast<int64_t>(sizeof(T)) <= kDotBytes) return dot_rows(M, N, K, x, w, bias, act, y);
  // B = W^T: B(k, n) = w[n * K + k].
  matmul<T>(M, N, K, x, K, 1, w, 1, K, y, N, [&](T* tile, int64_t rows, int64_t n0, int64_t cols) {
    bias_act::epilogue(rows, cols, tile, N, bias == nullptr ? nullptr : bias + n0, act);
  });
}

// The CPU kernels behind Ops (linear/ops.h).
struct CpuKernels {
  using Guard = NoDeviceGuard;
  static void check_dtype(const char* op, const at::Tensor& x) { check_cpu_dtype(op, "x", x); }

  static at::Tensor forward(const at::Tensor& x2, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                            Activation act) {
    const at::Tensor w = weight.contiguous();
    const int64_t M = x2.size(0), N = w.size(0), K = w.size(1);
    at::Tensor y = empty_output({M, N}, x2.options());
    AT_DISPATCH_FLOATING_TYPES(x2.scalar_type(), "zoo_linear", [&] {
      forward_kernel<scalar_t>(M, N, K, x2.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(),
                               data_or_null<scalar_t>(bias), act,
                               y.mutable_data_ptr<scalar_t>());
    });
    return y;
  }

  static at::Tensor input_grad(const at::Tensor& g, const at::Tensor& weight) { return zoo::mm(g, weight); }
  static at::Tensor weight_grad(const at::Tensor& g, const at::Tensor& x2) { return zoo::mm(g.t(), x2); }

  static at::Tensor bias_grad(const at::Tensor& g) {
    at::Tensor gb = at::empty({g.size(1)}, g.options());
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "zoo_linear_bias_grad", [&] {
      column_sums<scalar_t>(g.size(0), g.size(1), g.const_data_ptr<scalar_t>(), gb.mutable_data_ptr<scalar_t>());
    });
    return gb;
  }
};

using CpuOps = Ops<CpuKernels>;

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("linear", &CpuOps::linear);
  m.impl("linear_backward", &CpuOps::linear_backward);
}

}  // namespace zoo::linear
