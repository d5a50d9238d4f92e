// Every zoo operator's schema, in one always-compiled file, so a CPU-only build
// still defines every op (a missing CUDA kernel is a clean "not implemented for
// CUDA"). Kernels register themselves per device in csrc/<family>/.
//
// The pybind11 module carries only build facts a user needs from Python and the
// CPU conv algorithm setting; all tensor ops go through the dispatcher (torch.ops.zoo.*).
#include <Python.h>
#include <torch/library.h>
#include <torch/version.h>
#include <pybind11/pybind11.h>

#include "conv/algorithm.h"

#ifndef ZOO_CUDA_ARCHS
#define ZOO_CUDA_ARCHS ""
#endif
#ifndef ZOO_CPU_ISA
#define ZOO_CPU_ISA "default"
#endif

TORCH_LIBRARY(zoo, m) {
  // Fake kernels are registered by each family's zoo/ops/<family>.py when zoo.ops
  // loads this extension; autograd by csrc/<family>/<family>_autograd.cpp.
  m.def("bias_act(Tensor x, Tensor? bias, str act, int dim) -> Tensor");
  m.def(
      "bias_act_backward(Tensor grad, Tensor x, Tensor? bias, str act, int dim, "
      "bool compute_bias_grad) -> (Tensor, Tensor)");
  // y = act(x W^T + b) over x's last dimension; the backward's output_mask picks
  // (x, weight, bias) grads, empty where false, as conv_backward's does.
  m.def("linear(Tensor x, Tensor weight, Tensor? bias, str act) -> Tensor");
  m.def(
      "linear_backward(Tensor grad_out, Tensor x, Tensor weight, bool[3] output_mask) "
      "-> (Tensor, Tensor, Tensor)");
  // Returns (out, logsumexp); attn_mask is bool (true = attend) or additive, expanded to (B, Hq, Lq, Lk).
  m.def(
      "attention_forward(Tensor query, Tensor key, Tensor value, Tensor? attn_mask, bool is_causal, "
      "float scale) -> (Tensor, Tensor)");
  m.def(
      "attention_backward(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor? attn_mask, "
      "Tensor out, Tensor lse, bool is_causal, float scale) -> (Tensor, Tensor, Tensor)");
  // N-D convolution (N, C, *spatial) with an optional fused bias + activation epilogue
  // (act as in bias_act); the backward's output_mask picks (input, weight, bias) grads,
  // empty where false. conv_transpose is the adjoint of conv with the same weight.
  m.def(
      "conv(Tensor x, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups, "
      "str act) -> Tensor");
  m.def(
      "conv_backward(Tensor grad_out, Tensor x, Tensor weight, int[] stride, int[] padding, int[] dilation, "
      "int groups, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  m.def(
      "conv_transpose(Tensor x, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] output_padding, "
      "int[] dilation, int groups, str act) -> Tensor");
  m.def(
      "conv_transpose_backward(Tensor grad_out, Tensor x, Tensor weight, int[] stride, int[] padding, "
      "int[] output_padding, int[] dilation, int groups, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  // One recurrent layer, one direction, time-major; returns (out, h_n[, c_n], saved...),
  // the saved tensors empty unless `training` (nothing to differentiate: inference).
  m.def(
      "lstm_layer(Tensor x_proj, Tensor w_hh, Tensor h0, Tensor c0, Tensor? lengths, bool training=True) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "lstm_layer_backward(Tensor grad_out, Tensor grad_h_n, Tensor grad_c_n, Tensor w_hh, Tensor h0, Tensor c0, "
      "Tensor? lengths, Tensor out, Tensor cells, Tensor gates) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "gru_layer(Tensor x_proj, Tensor w_hh, Tensor b_hh, Tensor h0, Tensor? lengths, bool training=True) "
      "-> (Tensor, Tensor, Tensor)");
  m.def(
      "gru_layer_backward(Tensor grad_out, Tensor grad_h_n, Tensor w_hh, Tensor b_hh, Tensor h0, Tensor? lengths, "
      "Tensor out, Tensor gates) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("rnn_layer(Tensor x_proj, Tensor w_hh, Tensor h0, Tensor? lengths, str nonlinearity) -> (Tensor, Tensor)");
  m.def(
      "rnn_layer_backward(Tensor grad_out, Tensor grad_h_n, Tensor w_hh, Tensor h0, Tensor? lengths, Tensor out, "
      "str nonlinearity) -> (Tensor, Tensor, Tensor)");
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "zoo's compiled kernels; ops are under torch.ops.zoo";
#ifdef ZOO_WITH_CUDA
  m.attr("cuda_compiled") = true;
#else
  m.attr("cuda_compiled") = false;
#endif
  m.attr("cuda_archs") = ZOO_CUDA_ARCHS;
  m.attr("torch_version") = TORCH_VERSION;
  m.attr("cpu_isa") = ZOO_CPU_ISA;
  // zoo.ops.conv_algorithm's setting: 0 auto, 1 direct, 2 winograd; returns the previous one.
  m.def("_set_conv_algorithm", [](int choice) {
    return static_cast<int>(zoo::conv::algorithm().exchange(static_cast<zoo::conv::Algorithm>(choice)));
  });
}
