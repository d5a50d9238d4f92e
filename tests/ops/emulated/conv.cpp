// zoo's conv ops over their CUDA kernels (csrc/conv/conv_cuda_kernels.cuh) run in the host
// emulation, through the same Ops (csrc/conv/ops.h) the CUDA build registers. Split-K
// shares are cut to 32 deep, so the weight and bias gradients' atomics add several shares.
#include <torch/extension.h>

#include "cuda_emulation.h"
#include "conv/conv_cuda_kernels.cuh"
#include "conv/ops.h"

namespace zoo::gemm {
alignas(128) unsigned char smem[1 << 16];  // the kernel's `extern __shared__` buffer
}

namespace {

struct EmulatedLaunch {
  struct Guard {
    explicit Guard(at::Device) {}
  };
  static constexpr int64_t min_split_depth = 32;

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), int64_t blocks, size_t smem_bytes, Args... args) const {
    TORCH_CHECK(smem_bytes <= sizeof(zoo::gemm::smem), "emulated shared memory too small");
    cuda_emulation::launch(kernel, blocks, zoo::gemm::kThreads, zoo::gemm::smem, smem_bytes, args...);
  }
};

using EmulatedOps = zoo::conv::Ops<zoo::conv::kernels::CudaKernels<EmulatedLaunch>>;

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("conv", &EmulatedOps::conv);
  m.def("conv_backward", &EmulatedOps::conv_backward);
  m.def("conv_transpose", &EmulatedOps::conv_transpose);
  m.def("conv_transpose_backward", &EmulatedOps::conv_transpose_backward);
}
