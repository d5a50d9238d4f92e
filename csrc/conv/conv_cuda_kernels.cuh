// zoo::conv's CUDA kernels: the forward, grad-input, grad-weight and grad-bias of a
// convolution as implicit GEMMs (common/implicit_gemm.cuh) over channels-last data,
// with the host code that sets them up for `Ops` (conv/ops.h) through a `Launch`:
// conv_cuda.cu passes a real one; tests/ops/emulated/conv.cpp the host emulation of
// CUDA, so CI runs this code without a GPU.
//
// Per group g, with pixels p = (n, od, oh, ow) and taps (t, r, q):
//   forward     y[p, k]  = sum_{tap, c} x[p's input at tap, c] w[k, c, tap]   (M pixels, N = K/G, depth taps x C/G)
//   grad-input  gx[i, c] = sum_{tap, k} gy[the output reading i at tap, k] w[k, c, tap]
//                                                   (M input pixels, N = C/G, depth taps x K/G)
//   grad-weight gw[k, (tap, c)] = sum_p gy[p, k] x[p's input at tap, c]  (depth: every pixel, split-K)
//   grad-bias   gb[k] = sum_p gy[p, k]             (gemm::column_sums: a 1-row GEMM against ones, split-K)
// The weight is permuted once per call so its loads run along the GEMM's columns.
// A transposed convolution runs the same four with its input and output swapped.
// Depthwise convolutions, whose GEMMs would be one column wide, take the direct
// kernels of depthwise_cuda_kernels.cuh instead (all but the bias gradient).
// Include after cuda_fp16.h, cuda_bf16.h and mma.h (or the emulation's stand-ins).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <optional>

#include "bias_act/bias_act.h"
#include "common/implicit_gemm.cuh"
#include "common/optional_tensor.h"
#include "conv/conv.h"
#include "conv/depthwise_cuda_kernels.cuh"
#include "conv/geometry.cuh"

namespace zoo::conv::kernels {

using bias_act::Activation;
using gemm::acc_t;
using gemm::epilogue;

// x (channels-last) where the output pixel anchored at `row` reads it at col's tap and channel; 0 in the padding.
template <typename T>
__device__ T input_at(const Geometry& s, const T* x, const Geometry::Anchor& row, const Geometry::TapChannel& col) {
  const int64_t i = s.input_pixel(row, col.tap);
  return i < 0 ? T(0) : x[i * s.C + col.channel];
}

// y (pixels, K) = act(conv(x) + bias); w permuted to (G, taps, Cg, Kg).
template <typename T, Activation A>
struct Forward {
  using scalar_t = T;
  static constexpr bool kAAlongK = true, kBAlongK = false;
  int64_t groups, M, N, K, splits = 1;
  Geometry s;
  const T *x, *w, *bias;
  T* y;

  // A gathered in halves (common/implicit_gemm.cuh's SplitGatherA): pixel m's anchor, depth k's tap and channel.
  using ARow = Geometry::Anchor;
  using ACol = Geometry::TapChannel;
  __device__ ARow a_row(int64_t, int64_t m) const { return s.output_anchor(m); }
  __device__ ACol a_col(int64_t g, int64_t k) const { return s.tap_channel(g, k, s.Cg); }
  __device__ T a_at(const ARow& row, const ACol& col) const { return input_at(s, x, row, col); }
  __device__ T b(int64_t g, int64_t k, int64_t n) const { return w[(g * K + k) * N + n]; }
  __device__ void store(int64_t g, int64_t m, int64_t n, acc_t<T> v) const {
    y[m * s.K + g * N + n] = epilogue<A>(v, bias, g * N + n);
  }
};

// gx (input pixels, C) = act(conv^T(gy) + bias); w permuted to (G, taps, Kg, Cg).
template <typename T, Activation A>
struct InputGrad {
  using scalar_t = T;
  static constexpr bool kAAlongK = true, kBAlongK = false;
  int64_t groups, M, N, K, splits = 1;
  Geometry s;
  const T *gy, *w, *bias;
  T* gx;

  // A gathered in halves, as Forward's: input pixel m's anchor, depth k's tap and output channel.
  using ARow = Geometry::Anchor;
  using ACol = Geometry::TapChannel;
  __device__ ARow a_row(int64_t, int64_t m) const { return s.input_anchor(m); }
  __device__ ACol a_col(int64_t g, int64_t k) const { return s.tap_channel(g, k, s.Kg); }
  __device__ T a_at(const ARow& row, const ACol& col) const {
    const int64_t o = s.output_pixel(row, col.tap);
    return o < 0 ? T(0) : gy[o * s.K + col.channel];
  }
  __device__ T b(int64_t g, int64_t k, int64_t n) const { return w[(g * K + k) * N + n]; }
  __device__ void store(int64_t g, int64_t m, int64_t n, acc_t<T> v) const {
    gx[m * s.C + g * N + n] = epilogue<A>(v, bias, g * N + n);
  }
};

// gw (G, Kg, taps, Cg) += gy^T x gathered per tap, in the accumulate type.
template <typename T>
struct WeightGrad {
  using scalar_t = T;
  static constexpr bool kAAlongK = false, kBAlongK = false;
  int64_t groups, M, N, K, splits;
  Geometry s;
  const T *x, *gy;
  acc_t<T>* gw;

  __device__ T a(int64_t g, int64_t m, int64_t k) const { return gy[k * s.K + g * s.Kg + m]; }
  // B gathered in halves (SplitGatherB): pixel k's anchor, column n's tap and channel.
  using BRow = Geometry::Anchor;
  using BCol = Geometry::TapChannel;
  __device__ BRow b_row(int64_t, int64_t k) const { return s.output_anchor(k); }
  __device__ BCol b_col(int64_t g, int64_t n) const { return s.tap_channel(g, n, s.Cg); }
  __device__ T b_at(const BRow& row, const BCol& col) const { return input_at(s, x, row, col); }
  __device__ void store(int64_t g, int64_t m, int64_t n, acc_t<T> v) const { atomicAdd(gw + (g * M + m) * N + n, v); }
};

// The kernels behind conv/ops.h's Ops on CUDA, given a `Launch` (see common/implicit_gemm.cuh's
// run) with a Guard type and min_split_depth, the least depth a split-K share gets.
template <typename Launch>
struct CudaKernels {
  using Guard = typename Launch::Guard;

  static void check_dtype(const char* op, const at::Tensor& x) { check_cuda_dtype(op, "x", x); }

  // y5 (N, K, out), channels-last = act(conv(x5) + bias).
  static void forward(const Shape& s, const at::Tensor& x5, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, Activation act, at::Tensor& y) {
    if (is_depthwise(s)) return depthwise<Launch, /*Adjoint=*/false>(s, x5, weight, bias, act, y);
    const at::Tensor w = weight.reshape({s.G, s.Kg(), s.Cg(), s.taps()}).permute({0, 3, 2, 1}).contiguous();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x5.scalar_type(), "zoo_conv_cuda", [&] {
      bias_act::dispatch_activation(act, [&](auto a) {
        using P = Forward<scalar_t, decltype(a)::value>;
        gemm::run(P{s.G, s.N * s.out[0] * s.out[1] * s.out[2], s.Kg(), s.taps() * s.Cg(), 1, Geometry(s),
                    x5.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), data_or_null<scalar_t>(bias),
                    y.mutable_data_ptr<scalar_t>()},
                  Launch{});
      });
    });
  }

  // gx5 (N, C, in), channels-last = act(conv^T(gy5) + bias).
  static void input_grad(const Shape& s, const at::Tensor& gy5, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, Activation act, at::Tensor& gx) {
    if (is_depthwise(s)) return depthwise<Launch, /*Adjoint=*/true>(s, gy5, weight, bias, act, gx);
    const at::Tensor w = weight.reshape({s.G, s.Kg(), s.Cg(), s.taps()}).permute({0, 3, 1, 2}).contiguous();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, gy5.scalar_type(), "zoo_conv_input_grad_cuda", [&] {
      bias_act::dispatch_activation(act, [&](auto a) {
        using P = InputGrad<scalar_t, decltype(a)::value>;
        gemm::run(P{s.G, s.N * s.in[0] * s.in[1] * s.in[2], s.Cg(), s.taps() * s.Kg(), 1, Geometry(s),
                    gy5.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), data_or_null<scalar_t>(bias),
                    gx.mutable_data_ptr<scalar_t>()},
                  Launch{});
      });
    });
  }

  static at::Tensor weight_grad(const Shape& s, const at::Tensor& x5, const at::Tensor& gy5, const at::Tensor& weight) {
    if (is_depthwise(s)) return depthwise_weight_grad<Launch>(s, x5, gy5, weight);
    const at::ScalarType acc = at::toOpMathType(x5.scalar_type());
    at::Tensor gw = at::zeros({s.G, s.Kg(), s.taps(), s.Cg()}, x5.options().dtype(acc));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x5.scalar_type(), "zoo_conv_weight_grad_cuda", [&] {
      const int64_t M = s.Kg(), N = s.taps() * s.Cg(), K = s.N * s.out[0] * s.out[1] * s.out[2];
      const int64_t splits = gemm::split_count(s.G * gemm::tiles_of(M, N), K, Launch::min_split_depth);
      gemm::run(WeightGrad<scalar_t>{s.G, M, N, K, splits, Geometry(s), x5.const_data_ptr<scalar_t>(),
                                     gy5.const_data_ptr<scalar_t>(), gw.mutable_data_ptr<acc_t<scalar_t>>()},
                Launch{});
    });
    return gw.permute({0, 1, 3, 2}).reshape(weight.sizes()).to(weight.scalar_type());
  }

  // The sums over every pixel of t5 (N, channels, ...), channels-last: a bias's gradient.
  static at::Tensor channel_sum(const at::Tensor& t5) { return gemm::column_sums(t5, t5.size(1), Launch{}); }
};

}  // namespace zoo::conv::kernels
