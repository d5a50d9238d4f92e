// CUDA registrations of zoo::linear: Ops (linear/ops.h) over the GEMMs of
// linear_cuda_kernels.cuh, launched on the GPU.
//
// Passes the CUDA op tests on an H200 (.ci/gpu, 2026-12-04); CI, which has no GPU,
// compiles it and runs its device code in a host emulation (tests/ops/test_linear_cuda_emulated.py).
// Far slower than PyTorch's own CUDA ops so far, so zoo.ops routes CUDA tensors to it
// only in `ext` mode (README, "On a GPU").
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <torch/library.h>

#include "common/implicit_gemm_launch.cuh"
#include "linear/linear_cuda_kernels.cuh"
#include "linear/ops.h"

namespace zoo::linear {

using CudaOps = Ops<kernels::CudaKernels<gemm::CudaLaunch>>;

TORCH_LIBRARY_IMPL(zoo, CUDA, m) {
  m.impl("linear", &CudaOps::linear);
  m.impl("linear_backward", &CudaOps::linear_backward);
}

}  // namespace zoo::linear
