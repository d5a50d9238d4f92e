// What every op's autograd kernel (csrc/<family>/autograd.cpp) shares. Each is a
// torch::autograd::Function registered for the Autograd dispatch key: its forward
// calls the op below autograd, its backward calls the op's own backward kernel
// through the dispatcher, so one formula serves the CPU, CUDA and the fake tensors
// that torch.compile and torch.export trace with.
//
// Why C++ rather than torch.library.register_autograd: that Python layer runs on
// every call, with or without gradients. An 8 x 64 x 64 zoo::linear call, run
// alternately before and after the move: 7.6-8.9 -> 5.3-6.2 us without gradients
// (F.linear 3.3-3.7), 81-82 -> 59-60 us forward+backward (F.linear 43-49); a model
// calls an op per layer per step.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

#include <optional>
#include <tuple>
#include <utility>

namespace zoo {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The dispatcher's handle of zoo op `name` ("zoo::linear"); call sites keep it in a static.
template <typename Signature>
c10::TypedOperatorHandle<Signature> zoo_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// A saved optional tensor comes back from the context as an undefined tensor.
inline std::optional<at::Tensor> optional_of(const at::Tensor& t) {
  return t.defined() ? std::optional(t) : std::nullopt;
}

// An output's gradient, zeros where autograd passes none (that output was unused).
inline at::Tensor grad_or_zeros(const at::Tensor& grad, const at::Tensor& like) {
  return grad.defined() ? grad : at::zeros_like(like);
}

// Input i's gradient where autograd asked for it, else undefined (no gradient).
inline at::Tensor if_needed(AutogradContext* ctx, size_t i, const at::Tensor& grad) {
  return ctx->needs_input_grad(i) ? grad : at::Tensor();
}

// A Function's outputs as the std::tuple an op with N results returns.
template <size_t N>
auto as_tuple(const variable_list& outputs) {
  return [&]<size_t... I>(std::index_sequence<I...>) { return std::make_tuple(outputs[I]...); }(
      std::make_index_sequence<N>{});
}

// The gradient of an op's pre-activation from that of its output act(pre), for an op whose
// epilogue applied `act` along `dim`. Only direct calls of the op with an act get here: with
// gradients wanted, the zoo.ops wrappers run the activation as zoo.bias_act instead.
inline at::Tensor through_activation(const at::Tensor& grad, const at::Tensor& pre, c10::string_view act,
                                     int64_t dim) {
  static const auto backward =
      zoo_op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                                c10::string_view, int64_t, bool)>("zoo::bias_act_backward");
  return std::get<0>(backward.call(grad.contiguous(), pre, std::nullopt, act, dim, false));
}

}  // namespace zoo
