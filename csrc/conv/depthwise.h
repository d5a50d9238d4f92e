// Depthwise convolution on the CPU: one input and one output channel per group
// (groups = C = K, MobileNet and Conformer). A GEMM per group would be 1 x 1, so
// these kernels vectorize along the channels instead, which channels-last makes
// contiguous: out[j, c] = sum over taps of x[pixel(j, tap), c] * w[tap, c].
#pragma once

#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <vector>

#include "conv/conv.h"
#include "bias_act/epilogue.h"

namespace zoo::conv {

inline bool is_depthwise(const Shape& s) { return s.G > 1 && s.Cg() == 1 && s.Kg() == 1; }

namespace depthwise {

using bias_act::epilogue;

// Up to one vector of channels; a full one without the masked load's cost.
template <typename T>
at::vec::Vectorized<T> load(const T* p, int64_t n) {
  using Vec = at::vec::Vectorized<T>;
  return n == Vec::size() ? Vec::loadu(p) : Vec::loadu(p, n);
}

// weight (C, 1, ker) as (taps, C): one row of per-channel weights per tap.
inline at::Tensor taps_by_channel(const at::Tensor& weight, const Shape& s) {
  return weight.reshape({s.C, s.taps()}).t().contiguous();
}

template <typename T>
void forward(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, bias_act::Activation act, T* y) {
  using Vec = at::vec::Vectorized<T>;
  const at::Tensor wt = taps_by_channel(weight, s);
  const T* w = wt.const_data_ptr<T>();
  const int64_t C = s.C, W = s.in[2], OW = s.out[2];
  at::parallel_for(0, s.N * s.out[0] * s.out[1], 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oh = row % s.out[1], od = row / s.out[1] % s.out[0], n = row / (s.out[1] * s.out[0]);
      T* out = y + row * OW * C;
      std::fill_n(out, OW * C, T(0));
      for_each_input_row(s, n, od, oh, [&](int64_t t, int64_t r, int64_t in_row) {
        for (int64_t q = 0; q < s.ker[2]; ++q) {
          const Columns cols = columns(s, q);
          const T* w_tap = w + ((t * s.ker[1] + r) * s.ker[2] + q) * C;
          for (int64_t j = cols.lo; j < cols.hi; ++j) {
            const T* in = x + (in_row * W + j * s.stride[2] + cols.off) * C;
            for (int64_t c = 0; c < C; c += Vec::size()) {
              const int64_t len = std::min<int64_t>(Vec::size(), C - c);
              at::vec::fmadd(load(in + c, len), load(w_tap + c, len), load(out + j * C + c, len))
                  .store(out + j * C + c, len);
            }
          }
        }
      });
      epilogue(OW, C, out, C, bias, act);
    }
  });
}

// The transposed depthwise convolution: each input pixel gathers the outputs its taps reach.
template <typename T>
void input_grad(const Shape& s, const T* gy, const at::Tensor& weight, const T* bias, bias_act::Activation act,
                T* gx) {
  using Vec = at::vec::Vectorized<T>;
  const at::Tensor wt = taps_by_channel(weight, s);
  const T* w = wt.const_data_ptr<T>();
  const int64_t C = s.C, W = s.in[2];
  at::parallel_for(0, s.N * s.in[0] * s.in[1], 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t ih = row % s.in[1], id = row / s.in[1] % s.in[0], n = row / (s.in[1] * s.in[0]);
      T* out = gx + row * W * C;
      std::fill_n(out, W * C, T(0));
      for_each_output_row(s, n, id, ih, [&](int64_t t, int64_t r, int64_t out_row) {
        const T* grad_row = gy + out_row * s.out[2] * C;
        for (int64_t q = 0; q < s.ker[2]; ++q) {
          const T* w_tap = w + ((t * s.ker[1] + r) * s.ker[2] + q) * C;
          for (int64_t i = 0; i < W; ++i) {
            const int64_t ow = output_index(q, s.stride[2], s.pad[2], s.dil[2], i, s.out[2]);
            if (ow < 0) continue;
            for (int64_t c = 0; c < C; c += Vec::size()) {
              const int64_t len = std::min<int64_t>(Vec::size(), C - c);
              at::vec::fmadd(load(grad_row + ow * C + c, len), load(w_tap + c, len), load(out + i * C + c, len))
                  .store(out + i * C + c, len);
            }
          }
        }
      });
      epilogue(W, C, out, C, bias, act);
    }
  });
}

// weight_grad[c, tap] = sum over pixels of y_grad[pixel, c] * x[pixel's tap, c]: each row's sum
// in a vector, rows summed in per-thread buffers of the accumulate type (double for float:
// one float running sum over a whole batch loses digits PyTorch's blocked sums keep).
template <typename T>
void weight_grad(const Shape& s, const T* x, const T* gy, T* gw) {
  using Vec = at::vec::Vectorized<T>;
  using Acc = at::acc_type<T, /*is_cuda=*/false>;
  const int64_t C = s.C, W = s.in[2], OW = s.out[2], taps = s.taps();
  std::vector<Acc> partial(static_cast<size_t>(at::get_num_threads()) * taps * C, Acc(0));
  at::parallel_for(0, s.N * s.out[0] * s.out[1], 1, [&](int64_t begin, int64_t end) {
    Acc* acc = partial.data() + at::get_thread_num() * taps * C;
    T row_sum[Vec::size()];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oh = row % s.out[1], od = row / s.out[1] % s.out[0], n = row / (s.out[1] * s.out[0]);
      const T* grad_row = gy + row * OW * C;
      for_each_input_row(s, n, od, oh, [&](int64_t t, int64_t r, int64_t in_row) {
        for (int64_t q = 0; q < s.ker[2]; ++q) {
          const Columns cols = columns(s, q);
          Acc* acc_tap = acc + ((t * s.ker[1] + r) * s.ker[2] + q) * C;
          for (int64_t c = 0; c < C; c += Vec::size()) {
            const int64_t len = std::min<int64_t>(Vec::size(), C - c);
            Vec sum(T(0));
            for (int64_t j = cols.lo; j < cols.hi; ++j) {
              sum = at::vec::fmadd(load(grad_row + j * C + c, len),
                                   load(x + (in_row * W + j * s.stride[2] + cols.off) * C + c, len), sum);
            }
            sum.store(row_sum, len);
            for (int64_t i = 0; i < len; ++i) acc_tap[c + i] += row_sum[i];
          }
        }
      });
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t tap = 0; tap < taps; ++tap) {
      Acc total(0);
      for (int64_t i = 0; i < at::get_num_threads(); ++i) total += partial[(i * taps + tap) * C + c];
      gw[c * taps + tap] = static_cast<T>(total);
    }
  }
}

}  // namespace depthwise
}  // namespace zoo::conv
