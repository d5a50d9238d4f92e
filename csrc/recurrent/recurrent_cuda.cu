// CUDA registrations of zoo::lstm_layer / gru_layer / rnn_layer and their backward:
// argument checks, then the host loops of recurrent_cuda_kernels.cuh with a real
// kernel launch. The kernels are in that header.
//
// Passes the CUDA op tests on an H200 (.ci/gpu, 2026-12-04); CI, which has no GPU,
// compiles it and runs its device code in a host emulation (tests/ops/test_recurrent_cuda_emulated.py).
// Far slower than PyTorch's own CUDA ops so far, so zoo.ops routes CUDA tensors to it
// only in `ext` mode (README, "On a GPU").
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cooperative_groups.h>
#include <torch/library.h>

#include <tuple>

#include "recurrent/recurrent_cuda_kernels.cuh"

namespace zoo::recurrent {
namespace {

using kernels::Cell;
using kernels::layer_backward;
using kernels::layer_forward;

struct CudaLaunch {
  template <typename Kernel, typename... Args>
  void operator()(Kernel kernel, int64_t blocks, Args... args) const {
    kernel<<<unsigned(blocks), kernels::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(args...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }

  // Blocks of kernel the current device runs at once; 0 where it has no cooperative launch.
  template <typename... Params>
  int64_t cooperative_blocks(void (*kernel)(Params...)) const {
    const int device = c10::cuda::current_device();
    int cooperative = 0, per_multiprocessor = 0;
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
    if (cooperative == 0) return 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_multiprocessor, kernel, kernels::kThreads, 0));
    return int64_t(per_multiprocessor) * at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  }

  template <typename... Params, typename... Args>
  void cooperative(void (*kernel)(Params...), int64_t blocks, Args... args) const {
    std::tuple<Params...> params(args...);
    std::apply([&](Params&... p) {
      void* pointers[] = {&p...};
      C10_CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(kernel), dim3(unsigned(blocks)),
                                                 dim3(kernels::kThreads), pointers, 0,
                                                 at::cuda::getCurrentCUDAStream()));
    }, params);
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_layer_cuda(
    const at::Tensor& x_proj, const at::Tensor& w_hh, const at::Tensor& h0, const at::Tensor& c0,
    const std::optional<at::Tensor>& lengths, bool training) {
  const Shape s = check_layer_args("lstm_layer", 4, x_proj, w_hh, h0, lengths);
  check_cell_state("lstm_layer", c0, h0);
  const c10::cuda::CUDAGuard guard(x_proj.device());
  return layer_forward<Cell::Lstm>(s, x_proj, w_hh, std::nullopt, h0, c0, lengths, training, CudaLaunch{});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_layer_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& grad_hn, const at::Tensor& grad_cn, const at::Tensor& w_hh,
    const at::Tensor& h0, const at::Tensor& c0, const std::optional<at::Tensor>& lengths, const at::Tensor& out,
    const at::Tensor& cells, const at::Tensor& gates) {
  const Shape s = check_layer_args("lstm_layer_backward", 4, gates, w_hh, h0, lengths);
  check_same_shape("lstm_layer_backward", "grad_out", grad_out, "out", out);
  const c10::cuda::CUDAGuard guard(gates.device());
  auto [grad_x_proj, grad_w_hh, grad_h0, grad_c0, unused] =
      layer_backward<Cell::Lstm>(s, grad_out, grad_hn, grad_cn, w_hh, h0, c0, lengths, out, cells, gates, CudaLaunch{});
  return {grad_x_proj, grad_w_hh, grad_h0, grad_c0};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gru_layer_cuda(const at::Tensor& x_proj, const at::Tensor& w_hh,
                                                              const at::Tensor& b_hh, const at::Tensor& h0,
                                                              const std::optional<at::Tensor>& lengths,
                                                              bool training) {
  const Shape s = check_layer_args("gru_layer", 3, x_proj, w_hh, h0, lengths);
  check_gru_bias("gru_layer", b_hh, x_proj, s);
  const c10::cuda::CUDAGuard guard(x_proj.device());
  auto [out, h_n, no_c_n, no_cells, gates] =
      layer_forward<Cell::Gru>(s, x_proj, w_hh, b_hh, h0, std::nullopt, lengths, training, CudaLaunch{});
  return {out, h_n, gates};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gru_layer_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& grad_hn, const at::Tensor& w_hh, const at::Tensor& b_hh,
    const at::Tensor& h0, const std::optional<at::Tensor>& lengths, const at::Tensor& out, const at::Tensor& gates) {
  const Shape s = check_layer_args("gru_layer_backward", 3, gates, w_hh, h0, lengths, /*width=*/4);
  check_same_shape("gru_layer_backward", "grad_out", grad_out, "out", out);
  const c10::cuda::CUDAGuard guard(gates.device());
  auto [grad_x_proj, grad_w_hh, grad_h0, no_grad_c0, grad_hidden] = layer_backward<Cell::Gru>(
      s, grad_out, grad_hn, std::nullopt, w_hh, h0, std::nullopt, lengths, out, std::nullopt, gates, CudaLaunch{});
  return {grad_x_proj, grad_w_hh, grad_hidden.sum(at::IntArrayRef{0, 1}), grad_h0};
}

std::tuple<at::Tensor, at::Tensor> rnn_layer_cuda(const at::Tensor& x_proj, const at::Tensor& w_hh,
                                                  const at::Tensor& h0, const std::optional<at::Tensor>& lengths,
                                                  c10::string_view nonlinearity) {
  const Shape s = check_layer_args("rnn_layer", 1, x_proj, w_hh, h0, lengths);
  const bool relu = parse_relu("rnn_layer", nonlinearity);
  const c10::cuda::CUDAGuard guard(x_proj.device());
  auto run = relu ? layer_forward<Cell::RnnRelu, CudaLaunch> : layer_forward<Cell::RnnTanh, CudaLaunch>;
  auto [out, h_n, no_c_n, no_cells, no_gates] =
      run(s, x_proj, w_hh, std::nullopt, h0, std::nullopt, lengths, /*training=*/false, {});
  return {out, h_n};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> rnn_layer_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& grad_hn, const at::Tensor& w_hh, const at::Tensor& h0,
    const std::optional<at::Tensor>& lengths, const at::Tensor& out, c10::string_view nonlinearity) {
  const Shape s = check_layer_args("rnn_layer_backward", 1, out, w_hh, h0, lengths);
  const bool relu = parse_relu("rnn_layer_backward", nonlinearity);
  check_same_shape("rnn_layer_backward", "grad_out", grad_out, "out", out);
  const c10::cuda::CUDAGuard guard(out.device());
  auto run = relu ? layer_backward<Cell::RnnRelu, CudaLaunch> : layer_backward<Cell::RnnTanh, CudaLaunch>;
  const at::Tensor no_gates = at::empty({s.T, s.B, 0}, out.options());
  auto [grad_x_proj, grad_w_hh, grad_h0, no_grad_c0, no_grad_hidden] =
      run(s, grad_out, grad_hn, std::nullopt, w_hh, h0, std::nullopt, lengths, out, std::nullopt, no_gates, {});
  return {grad_x_proj, grad_w_hh, grad_h0};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CUDA, m) {
  m.impl("rnn_layer", &rnn_layer_cuda);
  m.impl("rnn_layer_backward", &rnn_layer_backward_cuda);
  m.impl("lstm_layer", &lstm_layer_cuda);
  m.impl("lstm_layer_backward", &lstm_layer_backward_cuda);
  m.impl("gru_layer", &gru_layer_cuda);
  m.impl("gru_layer_backward", &gru_layer_backward_cuda);
}

}  // namespace zoo::recurrent
