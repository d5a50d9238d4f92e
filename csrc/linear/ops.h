// zoo::linear and zoo::linear_backward, written once over a device's kernels:
// linear.cpp registers Ops<CpuKernels> for CPU, linear_cuda.cu Ops<CudaKernels<...>> for
// CUDA. Kernels provide
//   Guard                        constructed from the input's device for the call
//   check_dtype(op, x)           the dtypes the kernels take
//   forward(x2, w, bias, act)    -> act(x2 w^T + bias), (M, N), bias contiguous
//   input_grad(g, w)             -> g w, (M, K)
//   weight_grad(g, x2)           -> g^T x2, (N, K)
//   bias_grad(g)                 -> g's column sums, (N)
// with x2 and g contiguous matrices; w at any strides.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "bias_act/bias_act.h"
#include "common/checks.h"
#include "common/optional_tensor.h"

namespace zoo::linear {

// (in_features K, out_features N).
inline std::pair<int64_t, int64_t> check_args(const char* op, const at::Tensor& x, const at::Tensor& weight,
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
  return {weight.size(1), weight.size(0)};
}

// x (..., K) as an (M, K) matrix; reshape({-1, K}) is ambiguous when K = 0.
inline at::Tensor as_matrix(const at::Tensor& x) {
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < x.dim(); ++i) rows *= x.size(i);
  return x.reshape({rows, x.size(-1)}).contiguous();
}

inline std::vector<int64_t> with_last(at::IntArrayRef sizes, int64_t last) {
  std::vector<int64_t> out(sizes.begin(), sizes.end());
  out.back() = last;
  return out;
}

template <typename Kernels>
struct Ops {
  static at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::string_view act) {
    const auto [K, N] = check_args("linear", x, weight, bias);
    Kernels::check_dtype("linear", x);
    const typename Kernels::Guard guard(x.device());
    const bias_act::Activation a = bias_act::parse_activation(act);
    const at::Tensor y = Kernels::forward(as_matrix(x), weight, contiguous_or_none(bias), a);
    return at::_unsafe_view(y, with_last(x.sizes(), N));  // not a view: callers may modify it in place
  }

  static std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward(const at::Tensor& grad_out,
                                                                        const at::Tensor& x,
                                                                        const at::Tensor& weight,
                                                                        std::array<bool, 3> output_mask) {
    const char* op = "linear_backward";
    const auto [K, N] = check_args(op, x, weight, std::nullopt);
    Kernels::check_dtype(op, x);
    check_same_dtype(op, "grad_out", grad_out, "x", x);
    check_same_device(op, "grad_out", grad_out, "x", x);
    const std::vector<int64_t> out_shape = with_last(x.sizes(), N);
    ZOO_CHECK_ARG(grad_out.sizes() == at::IntArrayRef(out_shape), op, "grad_out", "must have the output's shape ",
                  at::IntArrayRef(out_shape), ", got ", grad_out.sizes());
    const typename Kernels::Guard guard(x.device());
    const at::Tensor g = as_matrix(grad_out);
    at::Tensor gx = x.new_empty({0}), gw = x.new_empty({0}), gb = x.new_empty({0});  // empty where not asked for
    if (output_mask[0]) gx = at::_unsafe_view(Kernels::input_grad(g, weight), x.sizes());
    if (output_mask[1]) gw = Kernels::weight_grad(g, as_matrix(x));
    if (output_mask[2]) gb = Kernels::bias_grad(g);
    return {gx, gw, gb};
  }
};

}  // namespace zoo::linear
