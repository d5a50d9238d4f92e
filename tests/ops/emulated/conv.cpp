// zoo's conv ops over their CUDA kernels (csrc/conv/conv_cuda_kernels.cuh) run in the host
// emulation, through the same Ops (csrc/conv/ops.h) the CUDA build registers.
#include <torch/extension.h>

#include "implicit_gemm_launch.h"
#include "conv/conv_cuda_kernels.cuh"
#include "conv/ops.h"

using EmulatedOps = zoo::conv::Ops<zoo::conv::kernels::CudaKernels<zoo::gemm::EmulatedLaunch>>;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("conv", &EmulatedOps::conv);
  m.def("conv_backward", &EmulatedOps::conv_backward);
  m.def("conv_transpose", &EmulatedOps::conv_transpose);
  m.def("conv_transpose_backward", &EmulatedOps::conv_transpose_backward);
}
