// Autograd of zoo::conv and zoo::conv_transpose (see common/autograd.h): the backward is
// the op's own backward kernel, asked only for the gradients autograd needs.
#include <torch/library.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/autograd.h"

namespace zoo::conv {
namespace {

using at::IntArrayRef;
using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

// The arguments that say where the kernel goes: conv's, or conv_transpose's with output_padding.
struct Geometry {
  std::vector<int64_t> stride, padding, output_padding, dilation;
  int64_t groups;
  bool transposed;

  void save(AutogradContext* ctx) const {
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["output_padding"] = output_padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["transposed"] = transposed;
  }

  static Geometry saved(AutogradContext* ctx) {
    auto& d = ctx->saved_data;
    return {d["stride"].toIntVector(), d["padding"].toIntVector(), d["output_padding"].toIntVector(),
            d["dilation"].toIntVector(), d["groups"].toInt(), d["transposed"].toBool()};
  }

  at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                     c10::string_view act) const {
    static const auto conv = zoo_op<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                               IntArrayRef, IntArrayRef, IntArrayRef, int64_t, c10::string_view)>(
        "zoo::conv");
    static const auto conv_transpose =
        zoo_op<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, IntArrayRef,
                          IntArrayRef, IntArrayRef, IntArrayRef, int64_t, c10::string_view)>("zoo::conv_transpose");
    return transposed ? conv_transpose.call(x, weight, bias, stride, padding, output_padding, dilation, groups, act)
                      : conv.call(x, weight, bias, stride, padding, dilation, groups, act);
  }

  Grads backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight,
                 std::array<bool, 3> mask) const {
    static const auto conv = zoo_op<Grads(const at::Tensor&, const at::Tensor&, const at::Tensor&, IntArrayRef,
                                          IntArrayRef, IntArrayRef, int64_t, std::array<bool, 3>)>("zoo::conv_backward");
    static const auto conv_transpose =
        zoo_op<Grads(const at::Tensor&, const at::Tensor&, const at::Tensor&, IntArrayRef, IntArrayRef, IntArrayRef,
                     IntArrayRef, int64_t, std::array<bool, 3>)>("zoo::conv_transpose_backward");
    return transposed ? conv_transpose.call(grad, x, weight, stride, padding, output_padding, dilation, groups, mask)
                      : conv.call(grad, x, weight, stride, padding, dilation, groups, mask);
  }
};

struct Conv : torch::autograd::Function<Conv> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, const Geometry& geometry, c10::string_view act) {
    ctx->save_for_backward({x, weight, bias.value_or(at::Tensor())});
    geometry.save(ctx);
    ctx->saved_data["act"] = std::string(act);
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return geometry.forward(x, weight, bias, act);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &bias = saved[2];
    const Geometry geometry = Geometry::saved(ctx);
    const std::string act = ctx->saved_data["act"].toStringRef();
    at::Tensor grad = grads[0];
    if (act != "identity") grad = through_activation(grad, geometry.forward(x, weight, optional_of(bias), "identity"), act, 1);
    const std::array<bool, 3> mask{ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                   bias.defined() && ctx->needs_input_grad(2)};
    const auto [grad_x, grad_weight, grad_bias] = geometry.backward(grad, x, weight, mask);
    return {mask[0] ? grad_x : at::Tensor(), mask[1] ? grad_weight : at::Tensor(),
            mask[2] ? grad_bias : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor conv_autograd(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation, int64_t groups,
                         c10::string_view act) {
  return Conv::apply(x, weight, bias, Geometry{stride.vec(), padding.vec(), {}, dilation.vec(), groups, false}, act);
}

at::Tensor conv_transpose_autograd(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias, IntArrayRef stride, IntArrayRef padding,
                                   IntArrayRef output_padding, IntArrayRef dilation, int64_t groups,
                                   c10::string_view act) {
  return Conv::apply(x, weight, bias,
                     Geometry{stride.vec(), padding.vec(), output_padding.vec(), dilation.vec(), groups, true}, act);
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, Autograd, m) {
  m.impl("conv", &conv_autograd);
  m.impl("conv_transpose", &conv_transpose_autograd);
}

}  // namespace zoo::conv
