// CUDA launches of zoo::attention: tile choice, shared memory and the operators'
// CUDA registrations. The kernels are in attention_cuda_kernels.cuh.
//
// Not yet run on a GPU (no machine of ours had one when it was written): CI compiles
// it and runs its device code in a host emulation (tests/ops/test_attention_cuda_emulated.py);
// tests/ops/test_attention.py tests it wherever CUDA is present, and zoo.ops routes
// CUDA tensors to it only in `ext` mode until those tests have passed on a GPU.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <torch/library.h>

#include <limits>

#include "attention/attention_cuda_kernels.cuh"

namespace zoo::attention {
namespace {

using namespace kernels;

constexpr int kTileChoices[] = {64, 32, 16};  // query rows = key rows per tile, largest that fits

// The largest tile whose shared memory fits a block on this device; sets p.tile and returns the bytes.
template <typename Smem, typename T>
size_t choose_tile(Problem<T>& p, const char* op) {
  const size_t limit = at::cuda::getCurrentDeviceProperties()->sharedMemPerBlockOptin;
  for (int tile : kTileChoices) {
    const size_t bytes = Smem(0, tile, p.Dp, p.Dvp).bytes;
    if (bytes <= limit) {
      p.tile = tile;
      return bytes;
    }
  }
  TORCH_CHECK(false, op, ": head dims (", p.D, ", ", p.Dv, ") in ", c10::CppTypeToScalarType<T>::value,
              " need more shared memory than this GPU gives a block (", limit, " bytes)");
}

template <typename Kernel, typename... Args>
void launch(Kernel kernel, int64_t blocks, size_t smem_bytes, const char* op, Args... args) {
  if (blocks == 0) return;
  TORCH_CHECK(blocks <= std::numeric_limits<int32_t>::max(), op, ": ", blocks, " blocks exceed CUDA's grid limit");
  C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes)));
  kernel<<<unsigned(blocks), kThreads, smem_bytes, at::cuda::getCurrentCUDAStream()>>>(args...);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor> attention_forward_cuda(const at::Tensor& q, const at::Tensor& k,
                                                          const at::Tensor& v, const std::optional<at::Tensor>& mask,
                                                          bool is_causal, double scale) {
  const Shape s = check_args(q, k, v, mask);
  const c10::cuda::CUDAGuard guard(q.device());
  // out laid out (B, Lq, Hq, Dv) as the CPU kernel's; the logsumexp in the accumulate type
  at::Tensor out = at::empty({s.B, s.Lq, s.Hq, s.Dv}, q.options()).transpose(1, 2);
  at::Tensor lse = at::empty({s.B, s.Hq, s.Lq}, q.options().dtype(at::toOpMathType(q.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "attention_forward_cuda", [&] {
    Problem<scalar_t> p = problem_of<scalar_t>(s, q, k, v, mask, is_causal, scale);
    const size_t bytes = choose_tile<ForwardSmem<scalar_t>>(p, "attention_forward");
    launch(forward_kernel<scalar_t>, s.B * s.Hq * ((s.Lq + p.tile - 1) / p.tile), bytes, "attention_forward", p,
           view_of<scalar_t>(out), lse.mutable_data_ptr<acc_t<scalar_t>>());
  });
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const std::optional<at::Tensor>& mask, const at::Tensor& out, const at::Tensor& lse, bool is_causal,
    double scale) {
  const Shape s = check_args(q, k, v, mask);
  check_backward_args(grad_out, out, lse, s);
  const at::ScalarType acc_type = at::toOpMathType(q.scalar_type());
  ZOO_CHECK_ARG(lse.scalar_type() == acc_type, "attention_backward", "lse", "must be ", acc_type,
                " (what the forward returns), got ", lse.scalar_type());
  const c10::cuda::CUDAGuard guard(q.device());
  const at::Tensor lc = lse.contiguous();
  at::Tensor delta = at::empty({s.B, s.Hq, s.Lq}, lse.options());
  at::Tensor dq = at::zeros(q.sizes(), lse.options());  // accumulated by atomics in the accumulate type
  // the gradients are contiguous, as the fake kernel says
  at::Tensor dk = at::empty(k.sizes(), k.options()), dv = at::empty(v.sizes(), v.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "attention_backward_cuda", [&] {
    using A = acc_t<scalar_t>;
    const int64_t rows = s.B * s.Hq * s.Lq;
    launch(delta_kernel<scalar_t>, std::min<int64_t>((rows + kWarps - 1) / kWarps, 65535LL * 16), 0,
           "attention_backward", rows, s.Hq, s.Lq, int(s.Dv), view_of<const scalar_t>(out),
           view_of<const scalar_t>(grad_out), delta.mutable_data_ptr<A>());
    Problem<scalar_t> p = problem_of<scalar_t>(s, q, k, v, mask, is_causal, scale);
    const size_t bytes = choose_tile<BackwardSmem<scalar_t>>(p, "attention_backward");
    launch(backward_kernel<scalar_t>, s.B * s.Hkv * ((s.Lk + p.tile - 1) / p.tile), bytes, "attention_backward", p,
           view_of<const scalar_t>(grad_out), lc.const_data_ptr<A>(), delta.const_data_ptr<A>(),
           dq.mutable_data_ptr<A>(), dk.mutable_data_ptr<scalar_t>(), dv.mutable_data_ptr<scalar_t>());
  });
  return {dq.to(q.scalar_type()), dk, dv};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CUDA, m) {
  m.impl("attention_forward", &attention_forward_cuda);
  m.impl("attention_backward", &attention_backward_cuda);
}

}  // namespace zoo::attention
