// zoo::attention's CUDA kernels and their host code (csrc/attention/attention_cuda_kernels.cuh)
// run in the host emulation, with the largest tile as a parameter (on a GPU it is the
// largest that fits the device's shared memory), and whether the forward and the backward
// take their mma.sync register-tile kernels (on a GPU: sm_80+).
#include <torch/extension.h>

#include "cuda_emulation.h"
#include "attention/attention_cuda_kernels.cuh"

namespace zoo::attention::kernels {
alignas(128) unsigned char smem[2 << 20];  // the kernels' `extern __shared__` buffer
}

namespace {

using namespace zoo::attention::kernels;

struct EmulatedLaunch {
  size_t shared_bytes = sizeof(smem);
  int max_tile;
  bool register_tiles;

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), int64_t blocks, size_t smem_bytes, Args... args) const {
    cuda_emulation::launch(kernel, blocks, kThreads, smem, smem_bytes, args...);
  }
};

std::tuple<at::Tensor, at::Tensor> emulated_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const std::optional<at::Tensor>& mask, bool is_causal,
                                                    double scale, int64_t max_tile, bool register_tiles) {
  return forward(q, k, v, mask, is_causal, scale,
                 EmulatedLaunch{.max_tile = int(max_tile), .register_tiles = register_tiles});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> emulated_backward(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const std::optional<at::Tensor>& mask, const at::Tensor& out, const at::Tensor& lse, bool is_causal,
    double scale, int64_t max_tile, bool register_tiles) {
  return backward(grad_out, q, k, v, mask, out, lse, is_causal, scale,
                  EmulatedLaunch{.max_tile = int(max_tile), .register_tiles = register_tiles});
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &emulated_forward);
  m.def("backward", &emulated_backward);
}
