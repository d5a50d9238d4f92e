// zoo's recurrent CUDA kernels and their host loops (csrc/recurrent/recurrent_cuda_kernels.cuh)
// run in the host emulation. Grids are cut to two blocks, so every grid-stride loop turns;
// `persistent` picks the persistent kernels or the per-step ones for the small batches tested.
#include <torch/extension.h>

#include "cuda_emulation.h"
#include "recurrent/recurrent_cuda_kernels.cuh"

namespace {

using namespace zoo::recurrent;
using kernels::Cell;

struct EmulatedLaunch {
  bool persistent;  // whether small batches take the persistent kernels, as on a GPU

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), int64_t blocks, Args... args) const {
    cuda_emulation::launch(kernel, std::min<int64_t>(blocks, 2), kernels::kThreads, nullptr, 0, args...);
  }

  template <typename Kernel>
  int64_t cooperative_blocks(Kernel) const {
    return persistent ? 2 : 0;
  }

  template <typename... Params, typename... Args>
  void cooperative(void (*kernel)(Params...), int64_t blocks, Args... args) const {
    cuda_emulation::launch_cooperative(kernel, blocks, kernels::kThreads, Params(args)...);
  }
};

template <Cell C>
std::vector<at::Tensor> forward(const at::Tensor& x_proj, const at::Tensor& w_hh, const std::optional<at::Tensor>& b_hh,
                                const at::Tensor& h0, const std::optional<at::Tensor>& c0,
                                const std::optional<at::Tensor>& lengths, bool training, bool persistent) {
  const Shape s = check_layer_args("emulated", kernels::gate_blocks(C), x_proj, w_hh, h0, lengths);
  auto [out, h_n, c_n, cells, gates] =
      kernels::layer_forward<C>(s, x_proj, w_hh, b_hh, h0, c0, lengths, training, EmulatedLaunch{persistent});
  return {out, h_n, c_n, cells, gates};
}

template <Cell C>
std::vector<at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& grad_h_n,
                                 const std::optional<at::Tensor>& grad_c_n, const at::Tensor& w_hh, const at::Tensor& h0,
                                 const std::optional<at::Tensor>& c0, const std::optional<at::Tensor>& lengths,
                                 const at::Tensor& out, const std::optional<at::Tensor>& cells, const at::Tensor& gates,
                                 bool persistent) {
  const Shape s{out.size(0), out.size(1), w_hh.size(1)};
  auto [gxp, grad_w, grad_h0, grad_c0, grad_hidden] = kernels::layer_backward<C>(
      s, grad_out, grad_h_n, grad_c_n, w_hh, h0, c0, lengths, out, cells, gates, EmulatedLaunch{persistent});
  return {gxp, grad_w, grad_h0, grad_c0, grad_hidden};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &forward<Cell::Lstm>);
  m.def("gru_forward", &forward<Cell::Gru>);
  m.def("rnn_tanh_forward", &forward<Cell::RnnTanh>);
  m.def("rnn_relu_forward", &forward<Cell::RnnRelu>);
  m.def("lstm_backward", &backward<Cell::Lstm>);
  m.def("gru_backward", &backward<Cell::Gru>);
  m.def("rnn_tanh_backward", &backward<Cell::RnnTanh>);
  m.def("rnn_relu_backward", &backward<Cell::RnnRelu>);
}
