// CUDA registrations of zoo::conv: Ops (conv/ops.h) over the implicit-GEMM kernels of
// conv_cuda_kernels.cuh, launched on the GPU.
//
// Passes the CUDA op tests on an H200 (.ci/gpu, 2026-12-04); CI, which has no GPU,
// compiles it and runs its device code in a host emulation (tests/ops/test_conv_cuda_emulated.py).
// Far slower than PyTorch's own CUDA ops so far, so zoo.ops routes CUDA tensors to it
// only in `ext` mode (README, "On a GPU").
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <torch/library.h>

#include "common/implicit_gemm_launch.cuh"
#include "conv/conv_cuda_kernels.cuh"
#include "conv/ops.h"

namespace zoo::conv {

using CudaOps = Ops<kernels::CudaKernels<gemm::CudaLaunch>>;

TORCH_LIBRARY_IMPL(zoo, CUDA, m) {
  m.impl("conv", &CudaOps::conv);
  m.impl("conv_backward", &CudaOps::conv_backward);
  m.impl("conv_transpose", &CudaOps::conv_transpose);
  m.impl("conv_transpose_backward", &CudaOps::conv_transpose_backward);
}

}  // namespace zoo::conv
