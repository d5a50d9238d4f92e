// A convolution's geometry for device code, and the pixel maps the CUDA kernels gather
// through (conv_cuda_kernels.cuh's implicit GEMMs, depthwise_cuda_kernels.cuh).
#pragma once

#include <cstdint>

#include "conv/conv.h"

namespace zoo::conv::kernels {

// conv.h's Shape in plain arrays, for device code.
struct Geometry {
  int64_t C, K, Cg, Kg, taps;
  int64_t in[3], out[3];
  int ker[3], stride[3], pad[3], dil[3];

  // A gather split in two so that a GEMM tile computes each half once rather than per element
  // (common/implicit_gemm.cuh): a pixel's Anchor (its batch index and where its window starts in
  // each dimension) per row, a tap's Offsets per column.
  struct Anchor {
    int64_t n;
    int at[3];
  };
  struct Offsets {
    int at[3];
  };
  struct TapChannel {  // a GEMM depth index as a gather's column half: its tap's offsets and its channel
    Offsets tap;
    int64_t channel;
  };

  explicit Geometry(const Shape& s) : C(s.C), K(s.K), Cg(s.Cg()), Kg(s.Kg()), taps(s.taps()) {
    for (int i = 0; i < 3; ++i) {
      in[i] = s.in[i], out[i] = s.out[i], ker[i] = int(s.ker[i]);
      stride[i] = int(s.stride[i]), pad[i] = int(s.pad[i]), dil[i] = int(s.dil[i]);
    }
  }

  // Output pixel (n, od, oh, ow): its window's first input coordinates, o * stride - pad.
  __device__ Anchor output_anchor(int64_t pixel) const {
    Anchor a;
    for (int i = 2; i >= 0; --i) a.at[i] = int(pixel % out[i]) * stride[i] - pad[i], pixel /= out[i];
    a.n = pixel;
    return a;
  }

  // Input pixel (n, id, ih, iw) shifted by the padding, i + pad: what the transposed gather starts from.
  __device__ Anchor input_anchor(int64_t pixel) const {
    Anchor a;
    for (int i = 2; i >= 0; --i) a.at[i] = int(pixel % in[i]) + pad[i], pixel /= in[i];
    a.n = pixel;
    return a;
  }

  // Tap (t, r, q): its offsets within the window, k * dil.
  __device__ Offsets tap_offsets(int64_t tap) const {
    Offsets o;
    for (int i = 2; i >= 0; --i) o.at[i] = int(tap % ker[i]) * dil[i], tap /= ker[i];
    return o;
  }

  // f(tap, offsets) for every tap in order, without dividing the tap index.
  template <typename F>
  __device__ void for_each_tap(F f) const {
    int64_t tap = 0;
    for (int t = 0; t < ker[0]; ++t) {
      for (int r = 0; r < ker[1]; ++r) {
        for (int q = 0; q < ker[2]; ++q) f(tap++, Offsets{{t * dil[0], r * dil[1], q * dil[2]}});
      }
    }
  }

  // Depth index k of group g, whose taps hold `per_group` channels each: its tap's offsets and its channel.
  __device__ TapChannel tap_channel(int64_t g, int64_t k, int64_t per_group) const {
    return {tap_offsets(k / per_group), g * per_group + k % per_group};
  }

  // The input pixel that the output pixel anchored at `a` reads at the tap with offsets `o`, or -1 in the padding.
  __device__ int64_t input_pixel(const Anchor& a, const Offsets& o) const {
    int64_t index = a.n;
    for (int i = 0; i < 3; ++i) {
      const int at = a.at[i] + o.at[i];
      if (at < 0 || at >= in[i]) return -1;
      index = index * in[i] + at;
    }
    return index;
  }

  // The output pixel that reads the input pixel anchored at `a` (input_anchor) at the tap with
  // offsets `o`, or -1 if none does.
  __device__ int64_t output_pixel(const Anchor& a, const Offsets& o) const {
    int64_t index = a.n;
    for (int i = 0; i < 3; ++i) {
      const int num = a.at[i] - o.at[i];
      if (num < 0 || num % stride[i] != 0 || num / stride[i] >= out[i]) return -1;
      index = index * out[i] + num / stride[i];
    }
    return index;
  }
};

}  // namespace zoo::conv::kernels
