// LSTM and GRU layers, shared checks. One op call runs one layer in one
// direction over a whole sequence, time-major:
//   x_proj  (T, B, G*H)  the input projection x W_ih^T + biases for all steps,
//                        computed by one GEMM before the call (G = 4 for LSTM, 3 for GRU)
//   w_hh    (G*H, H)     as in torch.nn.LSTM / GRU (gate order i, f, g, o / r, z, n)
//   h0, c0  (B, H)
//   lengths (B,) int64   optional: steps t >= lengths[b] are skipped for row b
//                        (state carried, output 0), so packed sequences waste no steps
//   training             false: the tensors saved for the backward (LSTM cells, gates)
//                        are neither written nor allocated, and come back empty
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>

#include "common/checks.h"
#include "common/huge_pages.h"

namespace zoo::recurrent {

struct Shape {
  int64_t T, B, H;
};

// `x_proj` is the (T, B, width*H) tensor that sets T and B: the input projection
// (width = gates), or in a backward the saved gates (GRU saves a fourth block).
inline Shape check_layer_args(const char* op, int64_t gates, const at::Tensor& x_proj, const at::Tensor& w_hh,
                              const at::Tensor& h0, const std::optional<at::Tensor>& lengths, int64_t width = 0) {
  width = width > 0 ? width : gates;
  ZOO_CHECK_ARG(x_proj.dim() == 3, op, "x_proj", "must be 3-D (T, B, ", width, "*H), got ", x_proj.dim(), "-D");
  check_floating(op, "x_proj", x_proj);
  ZOO_CHECK_ARG(w_hh.dim() == 2 && w_hh.size(0) == gates * w_hh.size(1), op, "w_hh",
                "must be (", gates, "*H, H), got ", w_hh.sizes());
  const Shape s{x_proj.size(0), x_proj.size(1), w_hh.size(1)};
  ZOO_CHECK_ARG(x_proj.size(2) == width * s.H, op, "x_proj", "must have ", width, "*H = ", width * s.H,
                " features, got ", x_proj.size(2));
  ZOO_CHECK_ARG(h0.dim() == 2 && h0.size(0) == s.B && h0.size(1) == s.H, op, "h0", "must be (B, H) = (", s.B,
                ", ", s.H, "), got ", h0.sizes());
  check_same_dtype(op, "w_hh", w_hh, "x_proj", x_proj);
  check_same_dtype(op, "h0", h0, "x_proj", x_proj);
  check_same_device(op, "w_hh", w_hh, "x_proj", x_proj);
  check_same_device(op, "h0", h0, "x_proj", x_proj);
  if (lengths.has_value()) {
    ZOO_CHECK_ARG(lengths->dim() == 1 && lengths->size(0) == s.B && lengths->scalar_type() == at::kLong &&
                      lengths->device().is_cpu(),
                  op, "lengths", "must be a 1-D int64 CPU tensor of B = ", s.B, " lengths, got ", lengths->sizes(),
                  " ", lengths->scalar_type(), " on ", lengths->device());
    ZOO_CHECK_ARG(lengths->numel() == 0 || (lengths->min().item<int64_t>() >= 0 && lengths->max().item<int64_t>() <= s.T),
                  op, "lengths", "must lie in [0, T = ", s.T, "]");
  }
  return s;
}

// A tensor the forward saves for the backward: `sizes` when training, else empty (see saved_data).
inline at::Tensor saved_tensor(bool training, at::IntArrayRef sizes, const at::TensorOptions& options) {
  return training ? empty_output(sizes, options) : at::empty({0}, options);
}

// Where a kernel writes a saved tensor: null when it is empty, so nothing is written.
template <typename T>
T* saved_data(at::Tensor& saved) {
  return saved.numel() > 0 ? saved.mutable_data_ptr<T>() : nullptr;
}

// The LSTM's c0 goes with h0: same shape, dtype and device.
inline void check_cell_state(const char* op, const at::Tensor& c0, const at::Tensor& h0) {
  check_same_shape(op, "c0", c0, "h0", h0);
  check_same_dtype(op, "c0", c0, "h0", h0);
  check_same_device(op, "c0", c0, "h0", h0);
}

// The GRU's hidden bias b_hh: (3*H,), with x_proj's dtype and device.
inline void check_gru_bias(const char* op, const at::Tensor& b_hh, const at::Tensor& x_proj, const Shape& s) {
  ZOO_CHECK_ARG(b_hh.dim() == 1 && b_hh.size(0) == 3 * s.H, op, "b_hh", "must be (3*H,) = (", 3 * s.H, ",), got ",
                b_hh.sizes());
  check_same_dtype(op, "b_hh", b_hh, "x_proj", x_proj);
  check_same_device(op, "b_hh", b_hh, "x_proj", x_proj);
}

// Whether an Elman RNN's nonlinearity is relu (else tanh); anything else is an error.
inline bool parse_relu(const char* op, c10::string_view nonlinearity) {
  ZOO_CHECK_ARG(nonlinearity == "tanh" || nonlinearity == "relu", op, "nonlinearity",
                "must be 'tanh' or 'relu', got '", std::string(nonlinearity), "'");
  return nonlinearity == "relu";
}

}  // namespace zoo::recurrent
