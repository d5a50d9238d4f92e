// CUDA registrations of zoo::attention: the host code of attention_cuda_kernels.cuh
// with a real kernel launch. The kernels are in that header.
//
// Passes the CUDA op tests on an H200 (.ci/gpu, 2026-12-04); CI, which has no GPU,
// compiles it and runs its device code in a host emulation (tests/ops/test_attention_cuda_emulated.py).
// Far slower than PyTorch's own CUDA ops so far, so zoo.ops routes CUDA tensors to it
// only in `ext` mode (README, "On a GPU").
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <torch/library.h>

#include <limits>
#include <mutex>
#include <unordered_map>

#include "attention/attention_cuda_kernels.cuh"

namespace zoo::attention {
namespace {

using namespace kernels;

__global__ void arch_probe_kernel() {}

// Whether this file's device code for the current GPU was built for sm_80+, so that mma.sync
// exists there: false for a build whose newest code is older PTX that the driver JIT-compiles.
// Asked of the driver once per device, not on every call.
bool built_for_sm80() {
  static std::mutex mutex;
  static std::unordered_map<c10::DeviceIndex, bool> known;
  const c10::DeviceIndex device = c10::cuda::current_device();
  const std::lock_guard<std::mutex> lock(mutex);
  const auto [entry, first] = known.try_emplace(device, false);
  if (first) {
    cudaFuncAttributes attributes;
    C10_CUDA_CHECK(cudaFuncGetAttributes(&attributes, arch_probe_kernel));
    entry->second = attributes.ptxVersion >= 80;
  }
  return entry->second;
}

// Launches on the current stream with up to the device's opt-in shared memory per block.
struct CudaLaunch {
  size_t shared_bytes = at::cuda::getCurrentDeviceProperties()->sharedMemPerBlockOptin;
  int max_tile = kTileChoices[0];
  bool register_tiles = built_for_sm80();  // mma.sync m16n8k16

  template <typename Kernel, typename... Args>
  void operator()(Kernel kernel, int64_t blocks, size_t smem_bytes, Args... args) const {
    TORCH_CHECK(blocks <= std::numeric_limits<int32_t>::max(), "attention: ", blocks,
                " blocks exceed CUDA's grid limit");
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes)));
    kernel<<<unsigned(blocks), kThreads, smem_bytes, at::cuda::getCurrentCUDAStream()>>>(args...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

std::tuple<at::Tensor, at::Tensor> attention_forward_cuda(const at::Tensor& q, const at::Tensor& k,
                                                          const at::Tensor& v, const std::optional<at::Tensor>& mask,
                                                          bool is_causal, double scale) {
  const c10::cuda::CUDAGuard guard(q.device());
  return forward(q, k, v, mask, is_causal, scale, CudaLaunch{});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const std::optional<at::Tensor>& mask, const at::Tensor& out, const at::Tensor& lse, bool is_causal,
    double scale) {
  const c10::cuda::CUDAGuard guard(q.device());
  return backward(grad_out, q, k, v, mask, out, lse, is_causal, scale, CudaLaunch{});
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CUDA, m) {
  m.impl("attention_forward", &attention_forward_cuda);
  m.impl("attention_backward", &attention_backward_cuda);
}

}  // namespace zoo::attention
