// CPU kernels of zoo::bias_act: vectorized with at::vec, parallel over rows
// with at::parallel_for. float and double take the vector path; half and
// bfloat16 compute in float one element at a time.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "bias_act/bias_act.h"
#include "common/huge_pages.h"

namespace zoo::bias_act {
namespace {

using at::vec::Vectorized;

constexpr int64_t kGrainElements = 32768;
constexpr int64_t kPieceElements = 4096;  // a multiple of every vector length

// Applies f(z, i) to z = x[i] + bias_i over n contiguous elements and writes
// out[i]. The bias is either one value for all of them (bias_step 0) or one
// value per element (bias_step 1), matching the two ways a row can lie in the
// (outer, channels, inner) view.
template <typename scalar_t, typename VecF, typename ScalarF>
void map_row(int64_t n, const scalar_t* x, const scalar_t* bias, int bias_step,
             scalar_t* out, VecF vec_f, ScalarF scalar_f) {
  using opmath_t = at::opmath_type<scalar_t>;
  int64_t i = 0;
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    using Vec = Vectorized<scalar_t>;
    const Vec zero(scalar_t(0));
    for (; i + Vec::size() <= n; i += Vec::size()) {
      Vec b = bias == nullptr ? zero
              : bias_step == 0 ? Vec(bias[0])
                               : Vec::loadu(bias + i);
      vec_f(Vec::loadu(x + i) + b, i).store(out + i);
    }
  }
  for (; i < n; ++i) {
    const opmath_t b = bias == nullptr ? opmath_t(0) : opmath_t(bias[bias_step * i]);
    out[i] = scalar_t(scalar_f(opmath_t(x[i]) + b, i));
  }
}

// Runs row_f(start, n, bias_offset, bias_step) over every row of the
// (outer, channels, inner) view, in pieces of at most kPieceElements, so a
// tensor of few long rows (one, without a bias) spreads over all threads too.
// A piece starts a whole number of vectors into its row, so every element takes
// the vector or the scalar path as it would in one pass: the values do not
// depend on the thread count.
// inner == 1: a row is one outer index and spans all channels (bias per element).
// inner > 1:  a row is one (outer, channel) pair (one bias value for the row).
template <typename RowF>
void for_each_row(const Layout& l, RowF row_f) {
  const int64_t numel = l.outer * l.channels * l.inner;
  if (numel == 0) return;
  const bool bias_per_element = l.inner == 1;
  const int64_t row_length = bias_per_element ? l.channels : l.inner;
  const int64_t piece = std::min(row_length, kPieceElements);
  const int64_t pieces_per_row = (row_length + piece - 1) / piece;
  const int64_t pieces = numel / row_length * pieces_per_row;
  at::parallel_for(0, pieces, std::max<int64_t>(1, kGrainElements / piece), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t row = p / pieces_per_row, offset = p % pieces_per_row * piece;
      const int64_t start = row * row_length + offset, n = std::min(piece, row_length - offset);
      if (bias_per_element) {
        row_f(start, n, offset, 1);
      } else {
        row_f(start, n, row % l.channels, 0);
      }
    }
  });
}

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& bias,
                        c10::string_view act, int64_t dim) {
  const auto [format, l] = plan(x, check_args(x, bias, act, dim), bias.has_value(), dim);
  const at::Tensor xc = x.contiguous(format);
  const at::Tensor bc = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor y = zoo::empty_output(xc.sizes(), xc.options().memory_format(format));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cpu", [&] {
    const scalar_t* xp = xc.const_data_ptr<scalar_t>();
    const scalar_t* bp = bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    dispatch_activation(l.act, [&](auto a) {
      constexpr Activation A = decltype(a)::value;
      for_each_row(l, [&](int64_t start, int64_t n, int64_t b_off, int b_step) {
        map_row<scalar_t>(
            n, xp + start, bp == nullptr ? nullptr : bp + b_off, b_step, yp + start,
            [](auto z, int64_t) { return forward<A>(z); },
            [](auto z, int64_t) { return forward<A>(z); });
      });
    });
  });
  return y;
}

// Sum of n contiguous values in at::acc_type: vectors over chunks of kChunk
// elements, each chunk promoted, so float rows of any length stay accurate.
template <typename scalar_t>
at::acc_type<scalar_t, false> row_sum(const scalar_t* p, int64_t n) {
  using acc_t = at::acc_type<scalar_t, false>;
  using opmath_t = at::opmath_type<scalar_t>;
  constexpr int64_t kChunk = 256;
  acc_t total = 0;
  int64_t i = 0;
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    for (; i + Vectorized<scalar_t>::size() <= n; i += kChunk) {
      const int64_t len = std::min(kChunk, n - i);
      total += acc_t(at::vec::reduce_all<scalar_t>([](auto& a, auto& b) { return a + b; }, p + i, len));
    }
  }
  for (; i < n; ++i) total += acc_t(p[i]);
  return total;
}

// grad_bias[c] = sum over (outer, inner) of grad_x, accumulated in at::acc_type
// (double for float). Threads own disjoint channel ranges and walk the rows in
// memory order. A long row (inner > 1) is summed with vectors and promoted; with
// one element per channel (inner == 1), kRowBlock rows are summed elementwise
// in opmath first, a loop the compiler vectorizes, then promoted.
template <typename scalar_t>
void reduce_to_channels(const Layout& l, const scalar_t* gx, scalar_t* gb) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  using opmath_t = at::opmath_type<scalar_t>;
  constexpr int64_t kRowBlock = 64;
  at::parallel_for(0, l.channels, 1, [&](int64_t c0, int64_t c1) {
    const int64_t nc = c1 - c0;
    std::vector<acc_t> total(nc, acc_t(0));
    std::vector<opmath_t> block(nc, opmath_t(0));
    for (int64_t o = 0; o < l.outer; ++o) {
      const scalar_t* row = gx + (o * l.channels + c0) * l.inner;
      if (l.inner > 1) {
        for (int64_t c = 0; c < nc; ++c) total[c] += row_sum(row + c * l.inner, l.inner);
        continue;
      }
      for (int64_t c = 0; c < nc; ++c) block[c] += opmath_t(row[c]);
      if ((o + 1) % kRowBlock == 0 || o + 1 == l.outer) {
        for (int64_t c = 0; c < nc; ++c) total[c] += acc_t(block[c]);
        std::fill(block.begin(), block.end(), opmath_t(0));
      }
    }
    for (int64_t c = 0; c < nc; ++c) gb[c0 + c] = scalar_t(total[c]);
  });
}

std::tuple<at::Tensor, at::Tensor> bias_act_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, const std::optional<at::Tensor>& bias,
    c10::string_view act, int64_t dim, bool compute_bias_grad) {
  const auto [format, l] = plan(x, check_args(x, bias, act, dim), bias.has_value(), dim);
  check_backward_args(grad, x);
  const at::Tensor xc = x.contiguous(format);
  const at::Tensor gc = grad.contiguous(format);
  const at::Tensor bc = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor gx = zoo::empty_output(xc.sizes(), xc.options().memory_format(format));
  const bool want_gb = compute_bias_grad && bc.defined();
  at::Tensor gb = want_gb ? at::empty_like(bc) : at::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = xc.const_data_ptr<scalar_t>();
    const scalar_t* gp = gc.const_data_ptr<scalar_t>();
    const scalar_t* bp = bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* gxp = gx.mutable_data_ptr<scalar_t>();
    dispatch_activation(l.act, [&](auto a) {
      constexpr Activation A = decltype(a)::value;
      for_each_row(l, [&](int64_t start, int64_t n, int64_t b_off, int b_step) {
        const scalar_t* g = gp + start;
        map_row<scalar_t>(
            n, xp + start, bp == nullptr ? nullptr : bp + b_off, b_step, gxp + start,
            [g](auto z, int64_t i) { return decltype(z)::loadu(g + i) * derivative<A>(z); },
            [g](auto z, int64_t i) { return opmath_t(g[i]) * derivative<A>(z); });
      });
    });
    if (want_gb) reduce_to_channels<scalar_t>(l, gxp, gb.mutable_data_ptr<scalar_t>());
  });
  return {gx, gb};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_backward", &bias_act_backward_cpu);
}

}  // namespace zoo::bias_act
