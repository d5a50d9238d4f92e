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
constexpr int64_t kDotTile = 4;   // rows of x and of W per dot-product tile

// out[i][j] = xs[i] . ws[j] over K elements: 16 vector accumulators, each x and W
// vector loaded once per step and used four times.
template <typename T>
void dot_tile(int64_t K, const std::array<const T*, kDotTile>& xs, const std::array<const T*, kDotTile>& ws,
              T (&out)[kDotTile][kDotTile]) {
  using Vec = Vectorized<T>;
  constexpr int64_t V = Vec::size();
  Vec acc[kDotTile][kDotTile];
  auto step = [&](int64_t k, int64_t n) {
    Vec xv[kDotTile], wv[kDotTile];
#pragma GCC unroll 4
    for (int i = 0; i < kDotTile; ++i) xv[i] = n == V ? Vec::loadu(xs[i] + k) : Vec::loadu(xs[i] + k, n);
#pragma GCC unroll 4
    for (int j = 0; j < kDotTile; ++j) wv[j] = n == V ? Vec::loadu(ws[j] + k) : Vec::loadu(ws[j] + k, n);
#pragma GCC unroll 4
    for (int i = 0; i < kDotTile; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < kDotTile; ++j) acc[i][j] = at::vec::fmadd(xv[i], wv[j], acc[i][j]);
  };
#pragma GCC unroll 4
  for (int i = 0; i < kDotTile; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kDotTile; ++j) acc[i][j] = Vec(T(0));
  int64_t k = 0;
  for (; k + V <= K; k += V) step(k, V);
  if (k < K) step(k, K - k);
  for (int i = 0; i < kDotTile; ++i)
    for (int j = 0; j < kDotTile; ++j)
      out[i][j] = at::vec::vec_reduce_all<T>([](Vec& a, Vec& b) { return a + b; }, acc[i][j]);
}

// y (M x N) = act(x W^T + b) for x of at most kDotBytes, in parallel over blocks of W's rows.
// A tile past the last row of x or W repeats that row and stores nothing for it.
template <typename T>
void dot_rows(int64_t M, int64_t N, int64_t K, const T* x, const T* w, const T* bias, Activation act, T* y) {
  at::parallel_for(0, (N + kDotTile - 1) / kDotTile, 1, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const int64_t j0 = block * kDotTile, nj = std::min(kDotTile, N - j0);
      std::array<const T*, kDotTile> ws;
      for (int64_t j = 0; j < kDotTile; ++j) ws[j] = w + std::min(j0 + j, N - 1) * K;
      for (int64_t i0 = 0; i0 < M; i0 += kDotTile) {
        const int64_t ni = std::min(kDotTile, M - i0);
        std::array<const T*, kDotTile> xs;
        for (int64_t i = 0; i < kDotTile; ++i) xs[i] = x + std::min(i0 + i, M - 1) * K;
        T out[kDotTile][kDotTile];
        dot_tile(K, xs, ws, out);
        for (int64_t i = 0; i < ni; ++i) std::copy(out[i], out[i] + nj, y + (i0 + i) * N + j0);
        bias_act::epilogue(ni, nj, y + i0 * N + j0, N, bias == nullptr ? nullptr : bias + j0, act);
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
