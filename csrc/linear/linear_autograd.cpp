// Autograd of zoo::linear (see common/autograd.h): the backward is zoo::linear_backward,
// asked only for the gradients autograd needs.
#include <torch/library.h>

#include <array>
#include <optional>
#include <string>

#include "common/autograd.h"

namespace zoo::linear {
namespace {

using LinearSignature = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                   c10::string_view);
using BackwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                         const at::Tensor&, std::array<bool, 3>);

at::Tensor call_linear(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                       c10::string_view act) {
  static const auto op = zoo_op<LinearSignature>("zoo::linear");
  return op.call(x, weight, bias, act);
}

struct Linear : torch::autograd::Function<Linear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, c10::string_view act) {
    ctx->save_for_backward({x, weight, bias.value_or(at::Tensor())});
    ctx->saved_data["act"] = std::string(act);
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return call_linear(x, weight, bias, act);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto linear_backward = zoo_op<BackwardSignature>("zoo::linear_backward");
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &bias = saved[2];
    const std::string act = ctx->saved_data["act"].toStringRef();
    at::Tensor grad = grads[0];
    if (act != "identity") grad = through_activation(grad, call_linear(x, weight, optional_of(bias), "identity"), act, -1);
    const std::array<bool, 3> mask{ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                   bias.defined() && ctx->needs_input_grad(2)};
    const auto [grad_x, grad_weight, grad_bias] = linear_backward.call(grad, x, weight, mask);
    return {mask[0] ? grad_x : at::Tensor(), mask[1] ? grad_weight : at::Tensor(),
            mask[2] ? grad_bias : at::Tensor(), at::Tensor()};
  }
};

at::Tensor linear_autograd(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::string_view act) {
  return Linear::apply(x, weight, bias, act);
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, Autograd, m) { m.impl("linear", &linear_autograd); }

}  // namespace zoo::linear
