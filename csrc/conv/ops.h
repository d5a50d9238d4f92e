// The four conv ops (conv, conv_backward, conv_transpose, conv_transpose_backward),
// written once over a device's kernels: conv.cpp registers Ops<CpuKernels> for CPU,
// conv_cuda.cu Ops<CudaKernels<...>> for CUDA. Kernels provide
//   Guard                        constructed from the input's device for the call
//   check_dtype(op, x)           the dtypes the kernels take
//   forward(s, x5, weight, bias, act, y5)     y5 = act(conv(x5) + bias), bias contiguous
//   input_grad(s, gy5, weight, bias, act, gx5)  gx5 = act(conv^T(gy5) + bias), bias contiguous
//   weight_grad(s, x5, gy5, weight)           -> grad of weight, weight's shape
//   channel_sum(t5)              -> t5 summed over every dim but the channels
// with 5-D channels-last tensors (to_ndhwc, make_result) in and out.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <tuple>
#include <vector>

#include "bias_act/bias_act.h"
#include "common/optional_tensor.h"
#include "conv/conv.h"

namespace zoo::conv {

inline void check_grad_out(const char* op, const at::Tensor& grad_out, const at::Tensor& x, int64_t channels,
                           const Dims& size) {
  check_same_dtype(op, "grad_out", grad_out, "x", x);
  check_same_device(op, "grad_out", grad_out, "x", x);
  std::vector<int64_t> expected{x.size(0), channels};
  for (int64_t i = 3 - (x.dim() - 2); i < 3; ++i) expected.push_back(size[i]);
  ZOO_CHECK_ARG(grad_out.sizes() == at::IntArrayRef(expected), op, "grad_out", "must have the output's shape ",
                at::IntArrayRef(expected), ", got ", grad_out.sizes());
}

template <typename Kernels>
struct Ops {
  using Activation = bias_act::Activation;
  using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

  static at::Tensor conv(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                         c10::string_view act) {
    const Shape s = forward_shape("conv", x, weight, bias, stride, padding, dilation, groups);
    Kernels::check_dtype("conv", x);
    const typename Kernels::Guard guard(x.device());
    const Activation a = bias_act::parse_activation(act);
    const at::Tensor x5 = to_ndhwc(x);
    const std::optional<at::Tensor> b = contiguous_or_none(bias);
    return make_result(s.N, s.K, s.out, x, [&](at::Tensor& y) { Kernels::forward(s, x5, weight, b, a, y); });
  }

  static Grads conv_backward(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight,
                             at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                             std::array<bool, 3> output_mask) {
    const char* op = "conv_backward";
    const Shape s = forward_shape(op, x, weight, std::nullopt, stride, padding, dilation, groups);
    Kernels::check_dtype(op, x);
    check_grad_out(op, grad_out, x, s.K, s.out);
    const typename Kernels::Guard guard(x.device());
    const at::Tensor gy5 = to_ndhwc(grad_out);
    at::Tensor gx = x.new_empty({0}), gw = x.new_empty({0}), gb = x.new_empty({0});  // empty where not asked for
    if (output_mask[0]) {
      gx = make_result(s.N, s.C, s.in, x, [&](at::Tensor& out) {
        Kernels::input_grad(s, gy5, weight, std::nullopt, Activation::Identity, out);
      });
    }
    if (output_mask[1]) gw = Kernels::weight_grad(s, to_ndhwc(x), gy5, weight);
    if (output_mask[2]) gb = Kernels::channel_sum(gy5);
    return {gx, gw, gb};
  }

  static at::Tensor conv_transpose(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                   at::IntArrayRef padding, at::IntArrayRef output_padding, at::IntArrayRef dilation,
                                   int64_t groups, c10::string_view act) {
    const Shape s =
        transpose_shape("conv_transpose", x, weight, bias, stride, padding, output_padding, dilation, groups);
    Kernels::check_dtype("conv_transpose", x);
    const typename Kernels::Guard guard(x.device());
    const Activation a = bias_act::parse_activation(act);
    const at::Tensor x5 = to_ndhwc(x);
    const std::optional<at::Tensor> b = contiguous_or_none(bias);
    return make_result(s.N, s.C, s.in, x, [&](at::Tensor& y) { Kernels::input_grad(s, x5, weight, b, a, y); });
  }

  static Grads conv_transpose_backward(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight,
                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef output_padding, at::IntArrayRef dilation, int64_t groups,
                                       std::array<bool, 3> output_mask) {
    const char* op = "conv_transpose_backward";
    const Shape s = transpose_shape(op, x, weight, std::nullopt, stride, padding, output_padding, dilation, groups);
    Kernels::check_dtype(op, x);
    check_grad_out(op, grad_out, x, s.C, s.in);
    const typename Kernels::Guard guard(x.device());
    const at::Tensor go5 = to_ndhwc(grad_out);  // plays the forward convolution's input
    at::Tensor gx = x.new_empty({0}), gw = x.new_empty({0}), gb = x.new_empty({0});
    if (output_mask[0]) {
      gx = make_result(s.N, s.K, s.out, x, [&](at::Tensor& out) {
        Kernels::forward(s, go5, weight, std::nullopt, Activation::Identity, out);
      });
    }
    if (output_mask[1]) gw = Kernels::weight_grad(s, go5, to_ndhwc(x), weight);
    if (output_mask[2]) gb = Kernels::channel_sum(go5);
    return {gx, gw, gb};
  }
};

}  // namespace zoo::conv
