// Autograd of zoo::lstm_layer, gru_layer and rnn_layer (see common/autograd.h): the backward
// through time is the op's own backward kernel. The outputs a layer keeps only for its backward
// (an LSTM's cells and gates, a GRU's gates) take no gradient, and autograd makes no zeros for
// them: materialised, an LSTM's (T, B, 4H) gates would cost a fill as large as the gates.
#include <torch/library.h>

#include <optional>
#include <string>
#include <tuple>

#include "common/autograd.h"

namespace zoo::recurrent {
namespace {

using at::Tensor;
using Lengths = std::optional<Tensor>;

// The state the kernel saved for the backward is empty unless the layer ran with training=True.
void check_trained(AutogradContext* ctx, const char* op) {
  TORCH_CHECK(ctx->saved_data["training"].toBool(), "zoo::", op,
              " was called with training=False, which saves nothing for the backward; call it with training=True "
              "to differentiate it");
}

// Saves only for the backward: the outputs listed take no gradient, and none is materialised.
void keep_for_backward(AutogradContext* ctx, const variable_list& tensors, const variable_list& saved_outputs) {
  ctx->save_for_backward(tensors);
  ctx->mark_non_differentiable(saved_outputs);
  ctx->set_materialize_grads(false);
}

struct Lstm : torch::autograd::Function<Lstm> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x_proj, const Tensor& w_hh, const Tensor& h0,
                               const Tensor& c0, const Lengths& lengths, bool training) {
    static const auto op = zoo_op<std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor>(
        const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Lengths&, bool)>("zoo::lstm_layer");
    const auto [out, h_n, c_n, cells, gates] = [&] {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      return op.call(x_proj, w_hh, h0, c0, lengths, training);
    }();
    keep_for_backward(ctx, {w_hh, h0, c0, lengths.value_or(Tensor()), out, cells, gates}, {cells, gates});
    ctx->saved_data["training"] = training;
    return {out, h_n, c_n, cells, gates};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto lstm_layer_backward = zoo_op<std::tuple<Tensor, Tensor, Tensor, Tensor>(
        const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Lengths&,
        const Tensor&, const Tensor&, const Tensor&)>("zoo::lstm_layer_backward");
    check_trained(ctx, "lstm_layer");
    const variable_list s = ctx->get_saved_variables();
    const Tensor &w_hh = s[0], &h0 = s[1], &c0 = s[2], &out = s[4];
    const auto [grad_x_proj, grad_w_hh, grad_h0, grad_c0] = lstm_layer_backward.call(
        grad_or_zeros(grads[0], out), grad_or_zeros(grads[1], h0), grad_or_zeros(grads[2], c0), w_hh, h0, c0,
        optional_of(s[3]), out, s[5], s[6]);
    return {if_needed(ctx, 0, grad_x_proj), if_needed(ctx, 1, grad_w_hh), if_needed(ctx, 2, grad_h0),
            if_needed(ctx, 3, grad_c0), Tensor(), Tensor()};
  }
};

struct Gru : torch::autograd::Function<Gru> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x_proj, const Tensor& w_hh, const Tensor& b_hh,
                               const Tensor& h0, const Lengths& lengths, bool training) {
    static const auto op = zoo_op<std::tuple<Tensor, Tensor, Tensor>(
        const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Lengths&, bool)>("zoo::gru_layer");
    const auto [out, h_n, gates] = [&] {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      return op.call(x_proj, w_hh, b_hh, h0, lengths, training);
    }();
    keep_for_backward(ctx, {w_hh, b_hh, h0, lengths.value_or(Tensor()), out, gates}, {gates});
    ctx->saved_data["training"] = training;
    return {out, h_n, gates};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto gru_layer_backward = zoo_op<std::tuple<Tensor, Tensor, Tensor, Tensor>(
        const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Lengths&, const Tensor&,
        const Tensor&)>("zoo::gru_layer_backward");
    check_trained(ctx, "gru_layer");
    const variable_list s = ctx->get_saved_variables();
    const Tensor &w_hh = s[0], &b_hh = s[1], &h0 = s[2], &out = s[4];
    const auto [grad_x_proj, grad_w_hh, grad_b_hh, grad_h0] = gru_layer_backward.call(
        grad_or_zeros(grads[0], out), grad_or_zeros(grads[1], h0), w_hh, b_hh, h0, optional_of(s[3]), out, s[5]);
    return {if_needed(ctx, 0, grad_x_proj), if_needed(ctx, 1, grad_w_hh), if_needed(ctx, 2, grad_b_hh),
            if_needed(ctx, 3, grad_h0), Tensor(), Tensor()};
  }
};

struct Rnn : torch::autograd::Function<Rnn> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x_proj, const Tensor& w_hh, const Tensor& h0,
                               const Lengths& lengths, c10::string_view nonlinearity) {
    static const auto op = zoo_op<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                                             const Lengths&, c10::string_view)>("zoo::rnn_layer");
    const auto [out, h_n] = [&] {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      return op.call(x_proj, w_hh, h0, lengths, nonlinearity);
    }();
    keep_for_backward(ctx, {w_hh, h0, lengths.value_or(Tensor()), out}, {});
    ctx->saved_data["nonlinearity"] = std::string(nonlinearity);
    return {out, h_n};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto rnn_layer_backward = zoo_op<std::tuple<Tensor, Tensor, Tensor>(
        const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Lengths&, const Tensor&, c10::string_view)>(
        "zoo::rnn_layer_backward");
    const variable_list s = ctx->get_saved_variables();
    const Tensor &w_hh = s[0], &h0 = s[1], &out = s[3];
    const auto [grad_x_proj, grad_w_hh, grad_h0] =
        rnn_layer_backward.call(grad_or_zeros(grads[0], out), grad_or_zeros(grads[1], h0), w_hh, h0,
                                optional_of(s[2]), out, ctx->saved_data["nonlinearity"].toStringRef());
    return {if_needed(ctx, 0, grad_x_proj), if_needed(ctx, 1, grad_w_hh), if_needed(ctx, 2, grad_h0), Tensor(),
            Tensor()};
  }
};

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> lstm_layer_autograd(const Tensor& x_proj, const Tensor& w_hh,
                                                                       const Tensor& h0, const Tensor& c0,
                                                                       const Lengths& lengths, bool training) {
  return as_tuple<5>(Lstm::apply(x_proj, w_hh, h0, c0, lengths, training));
}

std::tuple<Tensor, Tensor, Tensor> gru_layer_autograd(const Tensor& x_proj, const Tensor& w_hh, const Tensor& b_hh,
                                                      const Tensor& h0, const Lengths& lengths, bool training) {
  return as_tuple<3>(Gru::apply(x_proj, w_hh, b_hh, h0, lengths, training));
}

std::tuple<Tensor, Tensor> rnn_layer_autograd(const Tensor& x_proj, const Tensor& w_hh, const Tensor& h0,
                                              const Lengths& lengths, c10::string_view nonlinearity) {
  return as_tuple<2>(Rnn::apply(x_proj, w_hh, h0, lengths, nonlinearity));
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, Autograd, m) {
  m.impl("lstm_layer", &lstm_layer_autograd);
  m.impl("gru_layer", &gru_layer_autograd);
  m.impl("rnn_layer", &rnn_layer_autograd);
}

}  // namespace zoo::recurrent
