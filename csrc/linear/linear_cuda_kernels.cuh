// zoo::linear's CUDA kernels: y = act(x W^T + b) and its gradients as plain GEMMs on
// common/implicit_gemm.cuh (W read in place at any strides), behind Ops (linear/ops.h)
// through a `Launch`: linear_cuda.cu passes a real one; tests/ops/emulated/linear.cpp the
// host emulation of CUDA, so CI runs this code without a GPU.
//   forward      y  (M x N) = x (M x K) W^T, with bias + act in the epilogue
//   grad-input   gx (M x K) = g (M x N) W
//   grad-weight  gW (N x K) = g^T x, split-K over the rows, added atomically in fp32 (fp64 for float64)
//   grad-bias    gemm::column_sums(g)
// Include after cuda_fp16.h, cuda_bf16.h and mma.h (or the emulation's stand-ins).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <optional>

#include "bias_act/bias_act.h"
#include "common/implicit_gemm.cuh"
#include "common/optional_tensor.h"

namespace zoo::linear::kernels {

using bias_act::Activation;
using gemm::acc_t;
using gemm::Matmul;

template <typename Launch>
struct CudaKernels {
  using Guard = typename Launch::Guard;

  static void check_dtype(const char* op, const at::Tensor& x) { check_cuda_dtype(op, "x", x); }

  static at::Tensor forward(const at::Tensor& x2, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                            Activation act) {
    const int64_t M = x2.size(0), N = w.size(0), K = w.size(1);
    at::Tensor y = at::empty({M, N}, x2.options());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x2.scalar_type(), "zoo_linear_cuda", [&] {
      bias_act::dispatch_activation(act, [&](auto a) {
        using P = Matmul<scalar_t, decltype(a)::value, true, true>;
        gemm::run(P{1, M, N, K, 1, {x2.const_data_ptr<scalar_t>(), K, 1},
                    {w.const_data_ptr<scalar_t>(), w.stride(1), w.stride(0)},  // B(k, n) = W[n, k]
                    data_or_null<scalar_t>(bias), y.mutable_data_ptr<scalar_t>(),
                    nullptr},
                  Launch{});
      });
    });
    return y;
  }

  static at::Tensor input_grad(const at::Tensor& g, const at::Tensor& w) {
    const int64_t M = g.size(0), N = w.size(1), K = w.size(0);
    at::Tensor gx = at::empty({M, N}, g.options());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "zoo_linear_input_grad_cuda", [&] {
      using P = Matmul<scalar_t, Activation::Identity, true, false>;
      gemm::run(P{1, M, N, K, 1, {g.const_data_ptr<scalar_t>(), K, 1},
                  {w.const_data_ptr<scalar_t>(), w.stride(0), w.stride(1)}, nullptr, gx.mutable_data_ptr<scalar_t>(),
                  nullptr},
                Launch{});
    });
    return gx;
  }

  static at::Tensor weight_grad(const at::Tensor& g, const at::Tensor& x2) {
    const int64_t M = g.size(1), N = x2.size(1), K = g.size(0);
    at::Tensor sums = at::zeros({M, N}, g.options().dtype(at::toOpMathType(g.scalar_type())));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, g.scalar_type(), "zoo_linear_weight_grad_cuda", [&] {
      using P = Matmul<scalar_t, Activation::Identity, false, false>;
      const int64_t splits = gemm::split_count(gemm::tiles_of(M, N), K, Launch::min_split_depth);
      gemm::run(P{1, M, N, K, splits, {g.const_data_ptr<scalar_t>(), 1, M}, {x2.const_data_ptr<scalar_t>(), N, 1},
                  nullptr, nullptr, sums.mutable_data_ptr<acc_t<scalar_t>>()},
                Launch{});
    });
    return sums.to(g.scalar_type());
  }

  static at::Tensor bias_grad(const at::Tensor& g) { return gemm::column_sums(g, g.size(1), Launch{}); }
};

}  // namespace zoo::linear::kernels
