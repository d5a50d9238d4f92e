// Depthwise convolutions on CUDA (one input and one output channel per group, as in
// MobileNet-style blocks and Conformer's convolution module). As an implicit GEMM each
// group would be a product one column wide, so these kernels compute directly: a
// thread per (pixel, channel), channels innermost, so a warp reads consecutive
// channels of one pixel from the channels-last data and the weight's taps from L1.
//   forward     y[p, c]  = act(bias[c] + sum_tap x[p's input at tap, c] w[c, tap])
//   adjoint     gx[i, c] = act(bias[c] + sum_tap gy[the output reading i at tap, c] w[c, tap])
//               (the grad-input, and a transposed convolution's forward)
//   grad-weight gw[c, tap] = sum_p gy[p, c] x[p's input at tap, c]: a thread per (pixel
//               chunk, tap, channel) sums its chunk, then adds it atomically.
// Include after cuda_fp16.h, cuda_bf16.h and mma.h (or the emulation's stand-ins).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>

#include "bias_act/bias_act.h"
#include "common/implicit_gemm.cuh"
#include "common/optional_tensor.h"
#include "conv/conv.h"
#include "conv/geometry.cuh"

namespace zoo::conv::kernels {

using bias_act::Activation;
using gemm::acc_t;
using gemm::epilogue;

constexpr int64_t kDepthwiseMaxBlocks = 1 << 14;  // grid-stride beyond: ample to fill any GPU
constexpr int64_t kDepthwiseChunk = 64;           // pixels a grad-weight thread sums before its atomic add

inline bool is_depthwise(const Shape& s) { return s.Cg() == 1 && s.Kg() == 1; }

inline int64_t depthwise_blocks(int64_t work) {
  return std::min(kDepthwiseMaxBlocks, (work + gemm::kThreads - 1) / gemm::kThreads);
}

template <typename T>
struct Depthwise {
  Geometry s;
  int64_t pixels;   // of the result: output pixels (forward), input pixels (adjoint)
  const T *source;  // x (forward) or gy (adjoint), channels-last
  const T *w;       // (C, taps)
  const T *bias;    // (C) or null
  T* result;        // channels-last
};

template <typename T, Activation A, bool Adjoint>
__global__ void __launch_bounds__(gemm::kThreads) depthwise_kernel(Depthwise<T> p) {
  const int64_t C = p.s.C, taps = p.s.taps;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < p.pixels * C;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = e / C, c = e % C;
    const Geometry::Anchor anchor = Adjoint ? p.s.input_anchor(m) : p.s.output_anchor(m);
    acc_t<T> sum = 0;
    p.s.for_each_tap([&](int64_t tap, const Geometry::Offsets& offsets) {
      const int64_t from = Adjoint ? p.s.output_pixel(anchor, offsets) : p.s.input_pixel(anchor, offsets);
      if (from >= 0) sum += acc_t<T>(p.source[from * C + c]) * acc_t<T>(p.w[c * taps + tap]);
    });
    p.result[e] = epilogue<A>(sum, p.bias, c);
  }
}

template <typename T>
__global__ void __launch_bounds__(gemm::kThreads) depthwise_weight_grad_kernel(Geometry s, int64_t pixels,
                                                                               const T* x, const T* gy,
                                                                               acc_t<T>* gw) {
  const int64_t C = s.C, taps = s.taps, chunks = (pixels + kDepthwiseChunk - 1) / kDepthwiseChunk;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < chunks * taps * C;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % C, tap = e / C % taps, first = e / (C * taps) * kDepthwiseChunk;
    acc_t<T> sum = 0;
    const int64_t last = first + kDepthwiseChunk < pixels ? first + kDepthwiseChunk : pixels;
    const Geometry::Offsets offsets = s.tap_offsets(tap);
    for (int64_t m = first; m < last; ++m) {
      const int64_t i = s.input_pixel(s.output_anchor(m), offsets);
      if (i >= 0) sum += acc_t<T>(gy[m * C + c]) * acc_t<T>(x[i * C + c]);
    }
    atomicAdd(gw + c * taps + tap, sum);
  }
}

// result (N, C, pixels' dims), channels-last = act(depthwise conv (or its adjoint) of source + bias).
template <typename Launch, bool Adjoint>
void depthwise(const Shape& s, const at::Tensor& source, const at::Tensor& weight,
               const std::optional<at::Tensor>& bias, Activation act, at::Tensor& result) {
  const at::Tensor w = weight.contiguous();  // (C, 1, taps...): w[c * taps + tap]
  const int64_t pixels = result.numel() / s.C;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, source.scalar_type(), "zoo_depthwise_cuda", [&] {
    bias_act::dispatch_activation(act, [&](auto a) {
      const Depthwise<scalar_t> p{Geometry(s), pixels, source.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(),
                                  data_or_null<scalar_t>(bias), result.mutable_data_ptr<scalar_t>()};
      const auto kernel = depthwise_kernel<scalar_t, decltype(a)::value, Adjoint>;
      if (pixels * s.C > 0) Launch{}(kernel, depthwise_blocks(pixels * s.C), 0, p);
    });
  });
}

// grad of the weight (C, 1, taps...) from x5 and gy5 (channels-last), in the weight's dtype.
template <typename Launch>
at::Tensor depthwise_weight_grad(const Shape& s, const at::Tensor& x5, const at::Tensor& gy5,
                                 const at::Tensor& weight) {
  at::Tensor gw = at::zeros({s.C, s.taps()}, x5.options().dtype(at::toOpMathType(x5.scalar_type())));
  const int64_t pixels = gy5.numel() / s.C;
  const int64_t work = (pixels + kDepthwiseChunk - 1) / kDepthwiseChunk * s.taps() * s.C;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x5.scalar_type(), "zoo_depthwise_weight_grad_cuda", [&] {
    if (work > 0) {
      Launch{}(depthwise_weight_grad_kernel<scalar_t>, depthwise_blocks(work), 0, Geometry(s), pixels,
               x5.const_data_ptr<scalar_t>(), gy5.const_data_ptr<scalar_t>(), gw.mutable_data_ptr<acc_t<scalar_t>>());
    }
  });
  return gw.reshape(weight.sizes()).to(weight.scalar_type());
}

}  // namespace zoo::conv::kernels
