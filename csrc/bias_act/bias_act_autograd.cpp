// Autograd of zoo::bias_act (see common/autograd.h): the backward is zoo::bias_act_backward,
// which sums the bias gradient only where autograd needs it.
#include <torch/library.h>

#include <optional>
#include <string>

#include "common/autograd.h"

namespace zoo::bias_act {
namespace {

struct BiasAct : torch::autograd::Function<BiasAct> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const std::optional<at::Tensor>& bias,
                            c10::string_view act, int64_t dim) {
    static const auto op = zoo_op<at::Tensor(const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view,
                                             int64_t)>("zoo::bias_act");
    ctx->save_for_backward({x, bias.value_or(at::Tensor())});
    ctx->saved_data["act"] = std::string(act);
    ctx->saved_data["dim"] = dim;
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(x, bias, act, dim);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto bias_act_backward =
        zoo_op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                  const std::optional<at::Tensor>&, c10::string_view, int64_t, bool)>(
            "zoo::bias_act_backward");
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &bias = saved[1];
    const bool want_bias = bias.defined() && ctx->needs_input_grad(1);
    const auto [grad_x, grad_bias] = bias_act_backward.call(grads[0], x, optional_of(bias),
                                                            ctx->saved_data["act"].toStringRef(),
                                                            ctx->saved_data["dim"].toInt(), want_bias);
    return {if_needed(ctx, 0, grad_x), want_bias ? grad_bias : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor bias_act_autograd(const at::Tensor& x, const std::optional<at::Tensor>& bias, c10::string_view act,
                             int64_t dim) {
  return BiasAct::apply(x, bias, act, dim);
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, Autograd, m) { m.impl("bias_act", &bias_act_autograd); }

}  // namespace zoo::bias_act
