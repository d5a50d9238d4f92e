// CUDA kernels of zoo::bias_act: a grid-stride elementwise kernel for the
// forward and grad-input, and a block-per-channel reduction for grad-bias.
// Math is done in float for half/bfloat16 (at::opmath_type).
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>

#include "bias_act/bias_act.h"

namespace zoo::bias_act {
namespace {

constexpr int kThreads = 256;

int64_t grid_for(int64_t n) {
  const int64_t max_blocks = 65535LL * 8;
  return std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, max_blocks));
}

// out[i] = act(x[i] + bias[channel(i)]), or grad[i] * act'(x[i] + bias[channel(i)])
// when grad is given.
template <Activation A, typename scalar_t>
__global__ void pointwise_kernel(int64_t n, int64_t channels, int64_t inner,
                                 const scalar_t* __restrict__ x,
                                 const scalar_t* __restrict__ bias,
                                 const scalar_t* __restrict__ grad,
                                 scalar_t* __restrict__ out) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    opmath_t z = opmath_t(x[i]);
    if (bias != nullptr) z += opmath_t(bias[(i / inner) % channels]);
    out[i] = grad == nullptr ? scalar_t(forward<A>(z))
                             : scalar_t(opmath_t(grad[i]) * derivative<A>(z));
  }
}

// One block per channel sums grad_x over (outer, inner) in the accumulate type.
template <typename scalar_t>
__global__ void reduce_to_channels_kernel(int64_t outer, int64_t channels, int64_t inner,
                                          const scalar_t* __restrict__ gx,
                                          scalar_t* __restrict__ gb) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
  __shared__ acc_t partial[kThreads];
  const int64_t c = blockIdx.x;
  acc_t sum = 0;
  for (int64_t k = threadIdx.x; k < outer * inner; k += blockDim.x) {
    const int64_t o = k / inner, i = k % inner;
    sum += acc_t(gx[(o * channels + c) * inner + i]);
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[c] = scalar_t(partial[0]);
}

template <typename scalar_t>
void launch_pointwise(const Layout& l, const scalar_t* x, const scalar_t* bias,
                      const scalar_t* grad, scalar_t* out) {
  const int64_t n = l.outer * l.channels * l.inner;
  if (n == 0) return;
  auto stream = at::cuda::getCurrentCUDAStream();
  dispatch_activation(l.act, [&](auto a) {
    constexpr Activation A = decltype(a)::value;
    pointwise_kernel<A, scalar_t><<<grid_for(n), kThreads, 0, stream>>>(
        n, l.channels, l.inner, x, bias, grad, out);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& bias,
                         c10::string_view act, int64_t dim) {
  const auto [format, l] = plan(x, check_args(x, bias, act, dim), bias.has_value(), dim);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous(format);
  const at::Tensor bc = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor y = at::empty_like(xc, format);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cuda", [&] {
    launch_pointwise<scalar_t>(l, xc.const_data_ptr<scalar_t>(),
                               bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr,
                               nullptr, y.mutable_data_ptr<scalar_t>());
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor> bias_act_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, const std::optional<at::Tensor>& bias,
    c10::string_view act, int64_t dim, bool compute_bias_grad) {
  const auto [format, l] = plan(x, check_args(x, bias, act, dim), bias.has_value(), dim);
  check_backward_args(grad, x);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous(format);
  const at::Tensor gc = grad.contiguous(format);
  const at::Tensor bc = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor gx = at::empty_like(xc, format);
  const bool want_gb = compute_bias_grad && bc.defined();
  at::Tensor gb = want_gb ? at::empty_like(bc) : at::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_backward_cuda", [&] {
    launch_pointwise<scalar_t>(l, xc.const_data_ptr<scalar_t>(),
                               bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr,
                               gc.const_data_ptr<scalar_t>(), gx.mutable_data_ptr<scalar_t>());
    if (want_gb && l.channels > 0) {
      // one block per channel: gridDim.x holds at most 2^31 - 1
      TORCH_CHECK(l.channels <= std::numeric_limits<int32_t>::max(),
                  "bias_act: argument 'bias' has ", l.channels, " channels; at most 2^31 - 1 on CUDA");
      reduce_to_channels_kernel<scalar_t>
          <<<l.channels, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
              l.outer, l.channels, l.inner, gx.const_data_ptr<scalar_t>(),
              gb.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {gx, gb};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CUDA, m) {
  m.impl("bias_act", &bias_act_cuda);
  m.impl("bias_act_backward", &bias_act_backward_cuda);
}

}  // namespace zoo::bias_act
