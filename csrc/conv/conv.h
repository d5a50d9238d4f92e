// Convolution geometry shared by the conv kernels: argument checks that name the
// argument, output sizes, and the 5-D channels-last view every kernel runs on.
//
// Every convolution is described as the forward one, x (N, C, in) * w (K, C/G, ker)
// -> y (N, K, out), with 1-D and 2-D inputs seen as 3-D with leading size-1 spatial
// dims. A transposed convolution is the adjoint of the forward one whose weight it
// takes: its input plays y and its output plays x.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "common/checks.h"
#include "common/huge_pages.h"

namespace zoo::conv {

using Dims = std::array<int64_t, 3>;  // (depth, height, width)

struct Shape {
  int64_t N, C, K, G;
  Dims in, out, ker, stride, pad, dil;

  int64_t Cg() const { return C / G; }
  int64_t Kg() const { return K / G; }
  int64_t taps() const { return ker[0] * ker[1] * ker[2]; }
};

// An int[] argument of length 1 or `spatial`, right-aligned into 3 dims (leading dims get `fill`).
inline Dims expand(const char* op, const char* arg, at::IntArrayRef values, int64_t spatial, int64_t fill,
                   int64_t minimum) {
  ZOO_CHECK_ARG(values.size() == 1 || static_cast<int64_t>(values.size()) == spatial, op, arg,
                "must have 1 or ", spatial, " values for a ", spatial, "-D convolution, got ", values.size());
  Dims d{fill, fill, fill};
  for (int64_t i = 0; i < spatial; ++i) {
    const int64_t v = values.size() == 1 ? values[0] : values[i];
    ZOO_CHECK_ARG(v >= minimum, op, arg, "must be >= ", minimum, ", got ", values);
    d[3 - spatial + i] = v;
  }
  return d;
}

inline int64_t spatial_dims(const char* op, const at::Tensor& x, const at::Tensor& weight) {
  check_floating(op, "x", x);
  ZOO_CHECK_ARG(x.dim() >= 3 && x.dim() <= 5, op, "x",
                "must be 3-D, 4-D or 5-D (N, C, *spatial), got ", x.dim(), "-D; add a batch dim to unbatched input");
  ZOO_CHECK_ARG(weight.dim() == x.dim(), op, "weight", "must have as many dims as 'x' (", x.dim(), "), got ",
                weight.dim(), "-D");
  check_same_dtype(op, "weight", weight, "x", x);
  check_same_device(op, "weight", weight, "x", x);
  return x.dim() - 2;
}

inline void check_bias(const char* op, const std::optional<at::Tensor>& bias, int64_t channels, const at::Tensor& x) {
  if (!bias.has_value()) return;
  ZOO_CHECK_ARG(bias->dim() == 1 && bias->size(0) == channels, op, "bias", "must be 1-D with ", channels,
                " elements (the output channels), got shape ", bias->sizes());
  check_same_dtype(op, "bias", *bias, "x", x);
  check_same_device(op, "bias", *bias, "x", x);
}

inline void check_groups(const char* op, int64_t groups, int64_t in_channels, int64_t out_channels) {
  ZOO_CHECK_ARG(groups >= 1, op, "groups", "must be >= 1, got ", groups);
  ZOO_CHECK_ARG(in_channels % groups == 0, op, "groups", "must divide the input channels (", in_channels,
                "), got ", groups);
  ZOO_CHECK_ARG(out_channels % groups == 0, op, "groups", "must divide the output channels (", out_channels,
                "), got ", groups);
}

// x (N, C, in) * weight (K, C/groups, ker).
inline Shape forward_shape(const char* op, const at::Tensor& x, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, int64_t groups) {
  const int64_t sp = spatial_dims(op, x, weight);
  Shape s{x.size(0), x.size(1), weight.size(0), groups, {}, {}, {}, {}, {}, {}};
  check_groups(op, groups, s.C, s.K);
  ZOO_CHECK_ARG(weight.size(1) * groups == s.C, op, "weight",
                "must have in_channels / groups = ", s.C / groups, " channels in dim 1, got shape ", weight.sizes());
  check_bias(op, bias, s.K, x);
  s.stride = expand(op, "stride", stride, sp, 1, 1);
  s.pad = expand(op, "padding", padding, sp, 0, 0);
  s.dil = expand(op, "dilation", dilation, sp, 1, 1);
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t k = i < 3 - sp ? 1 : weight.size(2 + i - (3 - sp));
    const int64_t n = i < 3 - sp ? 1 : x.size(2 + i - (3 - sp));
    s.ker[i] = k, s.in[i] = n;
    const int64_t span = s.dil[i] * (k - 1) + 1, padded = n + 2 * s.pad[i];
    ZOO_CHECK_ARG(span <= padded, op, "weight", "kernel size (dilated: ", span, ") must not exceed the padded input (",
                  padded, ") in spatial dim ", i - (3 - sp), "; input shape ", x.sizes(), ", weight shape ",
                  weight.sizes());
    s.out[i] = (padded - span) / s.stride[i] + 1;
  }
  return s;
}

// The transposed convolution of x (N, C_in, in) by weight (C_in, C_out / groups, ker): the
// adjoint of a forward convolution from C_out to C_in channels.
inline Shape transpose_shape(const char* op, const at::Tensor& x, const at::Tensor& weight,
                             const std::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
                             at::IntArrayRef output_padding, at::IntArrayRef dilation, int64_t groups) {
  const int64_t sp = spatial_dims(op, x, weight);
  ZOO_CHECK_ARG(weight.size(0) == x.size(1), op, "weight", "must have in_channels = ", x.size(1),
                " in dim 0 for a transposed convolution, got shape ", weight.sizes());
  Shape s{x.size(0), weight.size(1) * groups, x.size(1), groups, {}, {}, {}, {}, {}, {}};
  check_groups(op, groups, s.K, s.C);
  check_bias(op, bias, s.C, x);
  s.stride = expand(op, "stride", stride, sp, 1, 1);
  s.pad = expand(op, "padding", padding, sp, 0, 0);
  s.dil = expand(op, "dilation", dilation, sp, 1, 1);
  const Dims extra = expand(op, "output_padding", output_padding, sp, 0, 0);
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t k = i < 3 - sp ? 1 : weight.size(2 + i - (3 - sp));
    const int64_t n = i < 3 - sp ? 1 : x.size(2 + i - (3 - sp));
    ZOO_CHECK_ARG(extra[i] < s.stride[i] || extra[i] < s.dil[i], op, "output_padding",
                  "must be smaller than stride or dilation in every dim, got ", output_padding);
    s.ker[i] = k, s.out[i] = n;
    s.in[i] = (n - 1) * s.stride[i] - 2 * s.pad[i] + s.dil[i] * (k - 1) + extra[i] + 1;
    ZOO_CHECK_ARG(s.in[i] >= 1, op, "padding", "leaves no output in spatial dim ", i - (3 - sp),
                  " (output size ", s.in[i], "); input shape ", x.sizes(), ", weight shape ", weight.sizes());
  }
  return s;
}

inline int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The output index whose tap t reads input index i along one dim, or -1 if none does.
inline int64_t output_index(int64_t t, int64_t stride, int64_t pad, int64_t dil, int64_t i, int64_t out_size) {
  const int64_t num = i + pad - t * dil;
  const int64_t o = num % stride == 0 ? num / stride : -1;
  return o < out_size ? o : -1;
}

// Calls f(t, r, in_row) for each depth and height tap of output row (n, od, oh) that lands
// inside the input; in_row = (n * D + id) * H + ih indexes the input's rows.
template <typename F>
void for_each_input_row(const Shape& s, int64_t n, int64_t od, int64_t oh, F&& f) {
  for (int64_t t = 0; t < s.ker[0]; ++t) {
    const int64_t id = od * s.stride[0] - s.pad[0] + t * s.dil[0];
    if (id < 0 || id >= s.in[0]) continue;
    for (int64_t r = 0; r < s.ker[1]; ++r) {
      const int64_t ih = oh * s.stride[1] - s.pad[1] + r * s.dil[1];
      if (ih >= 0 && ih < s.in[1]) f(t, r, (n * s.in[0] + id) * s.in[1] + ih);
    }
  }
}

// Calls f(t, r, out_row) for each depth and height tap through which some output row reads
// input row (n, id, ih); out_row = (n * OD + od) * OH + oh indexes the output's rows.
template <typename F>
void for_each_output_row(const Shape& s, int64_t n, int64_t id, int64_t ih, F&& f) {
  for (int64_t t = 0; t < s.ker[0]; ++t) {
    const int64_t od = output_index(t, s.stride[0], s.pad[0], s.dil[0], id, s.out[0]);
    if (od < 0) continue;
    for (int64_t r = 0; r < s.ker[1]; ++r) {
      const int64_t oh = output_index(r, s.stride[1], s.pad[1], s.dil[1], ih, s.out[1]);
      if (oh >= 0) f(t, r, (n * s.out[0] + od) * s.out[1] + oh);
    }
  }
}

// Width tap q: output column j reads input column j * stride + off, inside the input for lo <= j < hi.
struct Columns {
  int64_t off, lo, hi;
};

inline Columns columns(const Shape& s, int64_t q) {
  const int64_t off = q * s.dil[2] - s.pad[2];
  return {off, std::max<int64_t>(0, ceil_div(-off, s.stride[2])), std::min(s.out[2], ceil_div(s.in[2] - off, s.stride[2]))};
}

// Whether a result should be channels-last: when x's strides suggest it, PyTorch's own
// rule (Tensor::suggest_memory_format), which zoo/ops/conv.py's fake kernels follow too.
// It settles the ambiguous cases by strides: a one-channel image converted with
// .to(memory_format=channels_last) is also contiguous, and stays channels-last here.
inline bool is_channels_last(const at::Tensor& x) {
  return x.dim() >= 4 && x.suggest_memory_format() != at::MemoryFormat::Contiguous;
}

// (N, C, *spatial) as a 5-D (N, C, D, H, W) tensor laid out N, D, H, W, C.
inline at::Tensor to_ndhwc(const at::Tensor& t) {
  at::Tensor v = t;
  while (v.dim() < 5) v = v.unsqueeze(2);
  return v.contiguous(at::MemoryFormat::ChannelsLast3d);
}

// The op's result: (N, channels, size) at the rank of `like`, channels-last iff `like` is.
// `fill` writes it through a 5-D channels-last view, or into scratch copied in when the
// result's layout is not channels-last. The result is never a view, so in-place ops
// after it (ReLU(inplace=True)) keep their autograd history.
template <typename F>
at::Tensor make_result(int64_t N, int64_t channels, const Dims& size, const at::Tensor& like, F&& fill) {
  const int64_t rank = like.dim();
  std::vector<int64_t> shape{N, channels};
  for (int64_t i = 3 - (rank - 2); i < 3; ++i) shape.push_back(size[i]);
  const auto layout = !is_channels_last(like) ? at::MemoryFormat::Contiguous
                      : rank == 4             ? at::MemoryFormat::ChannelsLast
                                              : at::MemoryFormat::ChannelsLast3d;
  at::Tensor result = empty_output(shape, like.options().memory_format(layout));
  at::Tensor view = result;
  while (view.dim() < 5) view = view.unsqueeze(2);
  if (view.is_contiguous(at::MemoryFormat::ChannelsLast3d)) {
    fill(view);
  } else {
    at::Tensor scratch = at::empty({N, channels, size[0], size[1], size[2]},
                                   like.options().memory_format(at::MemoryFormat::ChannelsLast3d));
    fill(scratch);
    view.copy_(scratch);
  }
  return result;
}

}  // namespace zoo::conv
