// zoo::attention's CUDA kernels (csrc/attention/attention_cuda_kernels.cuh) run in the
// host emulation, with the tile size as a parameter (on a GPU it is the largest that
// fits); the launches mirror attention_cuda.cu's.
#include <torch/extension.h>

#include "cuda_emulation.h"
#include "attention/attention_cuda_kernels.cuh"

namespace zoo::attention::kernels {
alignas(128) unsigned char smem[2 << 20];  // the kernels' `extern __shared__` buffer
}

namespace {

using namespace zoo::attention;
using namespace zoo::attention::kernels;

template <typename Smem, typename T>
size_t fit(Problem<T>& p, int64_t tile) {
  p.tile = int(tile);
  const size_t bytes = Smem(0, p.tile, p.Dp, p.Dvp).bytes;
  TORCH_CHECK(bytes <= sizeof(smem), "tile ", tile, " needs ", bytes, " bytes of shared memory");
  return bytes;
}

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                           const std::optional<at::Tensor>& mask, bool is_causal, double scale,
                                           int64_t tile) {
  const Shape s = check_args(q, k, v, mask);
  at::Tensor out = at::empty({s.B, s.Lq, s.Hq, s.Dv}, q.options()).transpose(1, 2);
  at::Tensor lse = at::empty({s.B, s.Hq, s.Lq}, q.options().dtype(at::toOpMathType(q.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "forward", [&] {
    Problem<scalar_t> p = problem_of<scalar_t>(s, q, k, v, mask, is_causal, scale);
    const size_t bytes = fit<ForwardSmem<scalar_t>>(p, tile);
    cuda_emulation::launch(forward_kernel<scalar_t>, s.B * s.Hq * ((s.Lq + p.tile - 1) / p.tile), kThreads, smem,
                           bytes, p, view_of<scalar_t>(out), lse.mutable_data_ptr<acc_t<scalar_t>>());
  });
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& q,
                                                        const at::Tensor& k, const at::Tensor& v,
                                                        const std::optional<at::Tensor>& mask, const at::Tensor& out,
                                                        const at::Tensor& lse, bool is_causal, double scale,
                                                        int64_t tile) {
  const Shape s = check_args(q, k, v, mask);
  at::Tensor delta = at::empty({s.B, s.Hq, s.Lq}, lse.options());
  at::Tensor dq = at::zeros(q.sizes(), lse.options());
  at::Tensor dk = at::empty(k.sizes(), k.options()), dv = at::empty(v.sizes(), v.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "backward", [&] {
    using A = acc_t<scalar_t>;
    const int64_t rows = s.B * s.Hq * s.Lq;  // three blocks at most, so the grid-stride loop is exercised
    cuda_emulation::launch(delta_kernel<scalar_t>, std::min<int64_t>((rows + kWarps - 1) / kWarps, 3), kThreads,
                           smem, 0, rows, s.Hq, s.Lq, int(s.Dv), view_of<const scalar_t>(out),
                           view_of<const scalar_t>(grad_out), delta.mutable_data_ptr<A>());
    Problem<scalar_t> p = problem_of<scalar_t>(s, q, k, v, mask, is_causal, scale);
    const size_t bytes = fit<BackwardSmem<scalar_t>>(p, tile);
    cuda_emulation::launch(backward_kernel<scalar_t>, s.B * s.Hkv * ((s.Lk + p.tile - 1) / p.tile), kThreads, smem,
                           bytes, p, view_of<const scalar_t>(grad_out), lse.const_data_ptr<A>(),
                           delta.const_data_ptr<A>(), dq.mutable_data_ptr<A>(), dk.mutable_data_ptr<scalar_t>(),
                           dv.mutable_data_ptr<scalar_t>());
  });
  return {dq.to(q.scalar_type()), dk, dv};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward);
  m.def("backward", &backward);
}
