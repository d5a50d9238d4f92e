// zoo's linear ops over their CUDA kernels (csrc/linear/linear_cuda_kernels.cuh) run in the
// host emulation, through the same Ops (csrc/linear/ops.h) the CUDA build registers.
#include <torch/extension.h>

#include "implicit_gemm_launch.h"
#include "linear/linear_cuda_kernels.cuh"
#include "linear/ops.h"

using EmulatedOps = zoo::linear::Ops<zoo::linear::kernels::CudaKernels<zoo::gemm::EmulatedLaunch>>;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("linear", &EmulatedOps::linear);
  m.def("linear_backward", &EmulatedOps::linear_backward);
}
