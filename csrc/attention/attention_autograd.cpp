// Autograd of zoo::attention_forward (see common/autograd.h): the backward is
// zoo::attention_backward, which recomputes the probabilities blockwise from the saved
// logsumexp. The logsumexp output takes no gradient.
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "common/autograd.h"

namespace zoo::attention {
namespace {

using Outputs = std::tuple<at::Tensor, at::Tensor>;

struct Attention : torch::autograd::Function<Attention> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& query, const at::Tensor& key,
                               const at::Tensor& value, const std::optional<at::Tensor>& attn_mask, bool is_causal,
                               double scale) {
    static const auto op = zoo_op<Outputs(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                          const std::optional<at::Tensor>&, bool, double)>("zoo::attention_forward");
    const auto [out, lse] = [&] {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      return op.call(query, key, value, attn_mask, is_causal, scale);
    }();
    ctx->save_for_backward({query, key, value, attn_mask.value_or(at::Tensor()), out, lse});
    ctx->saved_data["is_causal"] = is_causal;
    ctx->saved_data["scale"] = scale;
    ctx->mark_non_differentiable({lse});
    return {out, lse};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto attention_backward =
        zoo_op<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
            const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
            const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&, bool, double)>(
            "zoo::attention_backward");
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &query = saved[0], &key = saved[1], &value = saved[2], &out = saved[4], &lse = saved[5];
    const auto [grad_query, grad_key, grad_value] = attention_backward.call(
        grads[0], query, key, value, optional_of(saved[3]), out, lse, ctx->saved_data["is_causal"].toBool(),
        ctx->saved_data["scale"].toDouble());
    return {if_needed(ctx, 0, grad_query), if_needed(ctx, 1, grad_key), if_needed(ctx, 2, grad_value),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

Outputs attention_forward_autograd(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                   const std::optional<at::Tensor>& attn_mask, bool is_causal, double scale) {
  return as_tuple<2>(Attention::apply(query, key, value, attn_mask, is_causal, scale));
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, Autograd, m) { m.impl("attention_forward", &attention_forward_autograd); }

}  // namespace zoo::attention
