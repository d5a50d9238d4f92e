// CUDA registrations of zoo::conv: Ops (conv/ops.h) over the implicit-GEMM kernels of
// conv_cuda_kernels.cuh, launched on the GPU.
//
// Not yet run on a GPU (no machine of ours had one when it was written): CI compiles
// it and runs its device code in a host emulation (tests/ops/test_conv_cuda_emulated.py);
// tests/ops/test_conv.py tests it wherever CUDA is present, and zoo.ops routes CUDA
// tensors to it only in `ext` mode until those tests have passed on a GPU.
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
