// CUDA registrations of zoo::linear: Ops (linear/ops.h) over the GEMMs of
// linear_cuda_kernels.cuh, launched on the GPU.
//
// Not yet run on a GPU (no machine of ours had one when it was written): CI compiles
// it and runs its device code in a host emulation (tests/ops/test_linear_cuda_emulated.py);
// tests/ops/test_linear.py tests it wherever CUDA is present, and zoo.ops routes CUDA
// tensors to it only in `ext` mode until those tests have passed on a GPU.
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
