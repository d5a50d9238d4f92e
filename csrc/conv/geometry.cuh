// A convolution's geometry for device code, and the pixel maps the CUDA kernels gather
// through (conv_cuda_kernels.cuh's implicit GEMMs, depthwise_cuda_kernels.cuh).
#pragma once

#include <cstdint>

#include "conv/conv.h"

namespace zoo::conv::kernels {

// conv.h's Shape in plain arrays, for device code.
struct Geometry {
  int64_t C, K, Cg, Kg, taps;
  int64_t in[3], out[3], ker[3], stride[3], pad[3], dil[3];

  explicit Geometry(const Shape& s) : C(s.C), K(s.K), Cg(s.Cg()), Kg(s.Kg()), taps(s.taps()) {
    for (int i = 0; i < 3; ++i) {
      in[i] = s.in[i], out[i] = s.out[i], ker[i] = s.ker[i];
      stride[i] = s.stride[i], pad[i] = s.pad[i], dil[i] = s.dil[i];
    }
  }

  // The input pixel (n, id, ih, iw) that output pixel (n, od, oh, ow) reads at `tap`, or -1 in the padding.
  __device__ int64_t input_pixel(int64_t pixel, int64_t tap) const {
    int64_t index = 0, scale = 1;
    for (int i = 2; i >= 0; --i) {
      const int64_t o = pixel % out[i], k = tap % ker[i];
      pixel /= out[i], tap /= ker[i];
      const int64_t at = o * stride[i] - pad[i] + k * dil[i];
      if (at < 0 || at >= in[i]) return -1;
      index += at * scale, scale *= in[i];
    }
    return index + pixel * scale;  // pixel is now n
  }

  // The output pixel that reads input pixel (n, id, ih, iw) at `tap`, or -1 if none does.
  __device__ int64_t output_pixel(int64_t pixel, int64_t tap) const {
    int64_t index = 0, scale = 1;
    for (int i = 2; i >= 0; --i) {
      const int64_t at = pixel % in[i], k = tap % ker[i];
      pixel /= in[i], tap /= ker[i];
      const int64_t num = at + pad[i] - k * dil[i];
      if (num < 0 || num % stride[i] != 0 || num / stride[i] >= out[i]) return -1;
      index += num / stride[i] * scale, scale *= out[i];
    }
    return index + pixel * scale;
  }
};

}  // namespace zoo::conv::kernels
