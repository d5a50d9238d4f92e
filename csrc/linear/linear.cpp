// CPU kernels of zoo::linear, y = act(x W^T + b), and its backward.
//
// x small enough to stay in L2 (a decoding step, a short batch): each thread
// streams its share of W's rows once, in place, and dots every one against all
// rows of x; there is no packing copy, and a decoding step, bound by reading
// W, runs at memory bandwidth. Larger x: matmul() (common/gemm.h) packs W^T
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
#include <tuple>
#include <vector>

#include "bias_act/bias_act.h"
#include "bias_act/epilogue.h"
#include "common/checks.h"
#include "common/column_sums.h"
#include "common/gemm.h"

namespace zoo::linear {
namespace {

using at::vec::Vectorized;
using bias_act::Activation;

constexpr int64_t kDotBytes = 1 << 20;  // x up to this size (half an L2) takes the dot-product path
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
  if (M * K * static_cast<int64_t>(sizeof(T)) <= kDotBytes) return dot_rows(M, N, K, x, w, bias, act, y);
  // B = W^T: B(k, n) = w[n * K + k].
  matmul<T>(M, N, K, x, K, 1, w, 1, K, y, N, [&](T* tile, int64_t rows, int64_t n0, int64_t cols) {
    bias_act::epilogue(rows, cols, tile, N, bias == nullptr ? nullptr : bias + n0, act);
  });
}

// x (..., K) against weight (N, K) and bias (N): returns K, N.
std::pair<int64_t, int64_t> check_args(const char* op, const at::Tensor& x, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias) {
  check_floating(op, "x", x);
  ZOO_CHECK_ARG(x.dim() >= 1, op, "x", "must have at least 1 dimension (..., in_features), got a 0-D tensor");
  ZOO_CHECK_ARG(weight.dim() == 2, op, "weight", "must be 2-D (out_features, in_features), got shape ",
                weight.sizes());
  ZOO_CHECK_ARG(weight.size(1) == x.size(-1), op, "weight", "must have in_features = x.size(-1) = ", x.size(-1),
                " columns, got shape ", weight.sizes());
  check_same_dtype(op, "weight", weight, "x", x);
  check_same_device(op, "weight", weight, "x", x);
  if (bias.has_value()) {
    ZOO_CHECK_ARG(bias->dim() == 1 && bias->size(0) == weight.size(0), op, "bias",
                  "must be 1-D with out_features = ", weight.size(0), " elements, got shape ", bias->sizes());
    check_same_dtype(op, "bias", *bias, "x", x);
    check_same_device(op, "bias", *bias, "x", x);
  }
  ZOO_CHECK_ARG(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op, "x",
                "must be float32 or float64 for the CPU kernel, got ", x.scalar_type());
  return {weight.size(1), weight.size(0)};
}

// x (..., K) as an (M, K) matrix; reshape({-1, K}) is ambiguous when K = 0.
at::Tensor as_matrix(const at::Tensor& x) {
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < x.dim(); ++i) rows *= x.size(i);
  return x.reshape({rows, x.size(-1)}).contiguous();
}

std::vector<int64_t> with_last(at::IntArrayRef sizes, int64_t last) {
  std::vector<int64_t> out(sizes.begin(), sizes.end());
  out.back() = last;
  return out;
}

at::Tensor linear_cpu(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                      c10::string_view act) {
  const auto [K, N] = check_args("linear", x, weight, bias);
  const Activation a = bias_act::parse_activation(act);
  const at::Tensor x2 = as_matrix(x), w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor y = at::empty({x2.size(0), N}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "zoo_linear", [&] {
    forward_kernel<scalar_t>(x2.size(0), N, K, x2.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(),
                             b.defined() ? b.const_data_ptr<scalar_t>() : nullptr, a, y.mutable_data_ptr<scalar_t>());
  });
  return at::_unsafe_view(y, with_last(x.sizes(), N));  // not a view: callers may modify it in place
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(const at::Tensor& grad_out, const at::Tensor& x,
                                                                   const at::Tensor& weight,
                                                                   std::array<bool, 3> output_mask) {
  const char* op = "linear_backward";
  const auto [K, N] = check_args(op, x, weight, std::nullopt);
  check_same_dtype(op, "grad_out", grad_out, "x", x);
  check_same_device(op, "grad_out", grad_out, "x", x);
  const std::vector<int64_t> out_shape = with_last(x.sizes(), N);
  ZOO_CHECK_ARG(grad_out.sizes() == at::IntArrayRef(out_shape), op, "grad_out", "must have the output's shape ",
                at::IntArrayRef(out_shape), ", got ", grad_out.sizes());
  const at::Tensor g = as_matrix(grad_out), x2 = as_matrix(x);
  at::Tensor gx = x.new_empty({0}), gw = x.new_empty({0}), gb = x.new_empty({0});  // empty where not asked for
  if (output_mask[0]) gx = at::_unsafe_view(zoo::mm(g, weight), x.sizes());
  if (output_mask[1]) gw = zoo::mm(g.t(), x2);
  if (output_mask[2]) {
    gb = at::empty({N}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "zoo_linear_bias_grad", [&] {
      column_sums<scalar_t>(g.size(0), N, g.const_data_ptr<scalar_t>(), gb.mutable_data_ptr<scalar_t>());
    });
  }
  return {gx, gw, gb};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("linear", &linear_cpu);
  m.impl("linear_backward", &linear_backward_cpu);
}

}  // namespace zoo::linear
