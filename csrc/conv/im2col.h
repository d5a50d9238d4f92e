// Convolutions with short output rows on the CPU (small maps: ResNet's 7x7 last stage,
// 3-D ResNet's later stages). The implicit-GEMM kernels (conv.cpp) stream the whole packed
// weight once per row, which such rows repay with only a few pixels. Here the forward
// gathers blocks of output pixels' receptive fields into a (pixels x taps*Cg) matrix
// (im2col, zeros for the padding) and one matmul per group (common/gemm.h) multiplies it
// by the weight, reusing each packed panel of the weight across the block; the input
// gradient is the adjoint (col2im).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <vector>

#include "bias_act/epilogue.h"
#include "common/gemm.h"
#include "conv/conv.h"

namespace zoo::conv {

constexpr int64_t kShortRow = 8;  // output rows with fewer pixels take this path (ResNet's 7x7 maps and below)

inline bool has_short_rows(const Shape& s) { return s.out[2] < kShortRow; }

namespace im2col {

constexpr int64_t kGatherBytes = 8 << 20;   // one block's gathered matrix, at most (or 96 pixels' worth)
constexpr int64_t kColumnBytes = 32 << 20;  // one block's col2im products, at most (or one sample's)

// The filter taps along each dim that read the input for some output; the others only ever
// read padding (all but the centre of a 3x3x3 filter on a 1x1x1 map) and are left out.
struct LiveTaps {
  std::array<std::vector<int64_t>, 3> taps;

  explicit LiveTaps(const Shape& s) {
    for (int dim = 0; dim < 3; ++dim) {
      for (int64_t t = 0; t < s.ker[dim]; ++t) {
        const int64_t first = t * s.dil[dim] - s.pad[dim];  // the input index output 0 reads
        const int64_t lo = std::max<int64_t>(0, ceil_div(-first, s.stride[dim]));
        const int64_t hi = std::min(s.out[dim] - 1, floor_div(s.in[dim] - 1 - first, s.stride[dim]));
        if (lo <= hi) taps[dim].push_back(t);
      }
    }
  }
  int64_t count() const { return int64_t(taps[0].size() * taps[1].size() * taps[2].size()); }
};

// row[tap * Cg + c] = the input that output pixel p's live tap reads in channel c of group g,
// 0 in the padding: tap-major, so in an ungrouped conv a row of taps along W that all read
// input is one copy of consecutive pixels' channels.
template <typename T>
void gather(const Shape& s, const LiveTaps& live, const T* x, int64_t g, int64_t p, T* row) {
  const int64_t ow = p % s.out[2], oh = p / s.out[2] % s.out[1], od = p / (s.out[2] * s.out[1]) % s.out[0];
  const int64_t n = p / (s.out[2] * s.out[1] * s.out[0]), Cg = s.Cg();
  const int64_t iw0 = ow * s.stride[2] - s.pad[2];
  const bool one_run = s.G == 1 && s.dil[2] == 1 && int64_t(live.taps[2].size()) == s.ker[2] && iw0 >= 0 &&
                       iw0 + s.ker[2] <= s.in[2];
  for (const int64_t t : live.taps[0]) {
    const int64_t id = od * s.stride[0] - s.pad[0] + t * s.dil[0];
    for (const int64_t r : live.taps[1]) {
      const int64_t ih = oh * s.stride[1] - s.pad[1] + r * s.dil[1];
      const bool inside = id >= 0 && id < s.in[0] && ih >= 0 && ih < s.in[1];
      const T* line = inside ? x + ((n * s.in[0] + id) * s.in[1] + ih) * s.in[2] * s.C + g * Cg : nullptr;
      if (inside && one_run) {
        row = std::copy_n(line + iw0 * s.C, s.ker[2] * s.C, row);
        continue;
      }
      for (const int64_t q : live.taps[2]) {
        const int64_t iw = iw0 + q * s.dil[2];
        row = inside && iw >= 0 && iw < s.in[2] ? std::copy_n(line + iw * s.C, Cg, row) : std::fill_n(row, Cg, T(0));
      }
    }
  }
}

// weight (K, Cg, ker) with only the live taps, as (G, Kg, live taps * Cg), contiguous: the
// tap-major order of gather's rows.
inline at::Tensor live_weight(const at::Tensor& weight, const Shape& s, const LiveTaps& live) {
  at::Tensor w = weight.reshape({s.G, s.Kg(), s.Cg(), s.ker[0], s.ker[1], s.ker[2]});
  for (int dim = 0; dim < 3; ++dim) {
    if (int64_t(live.taps[dim].size()) < s.ker[dim]) w = w.index_select(3 + dim, at::tensor(live.taps[dim], at::kLong));
  }
  return w.reshape({s.G, s.Kg(), s.Cg(), live.count()}).transpose(2, 3).contiguous();
}

// y (N, out, K) = act(conv(x (N, in, C), weight) + bias), both channels-last.
template <typename T>
void forward(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, bias_act::Activation act, T* y) {
  const LiveTaps live(s);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), depth = live.count() * Cg;
  const int64_t pixels = s.N * s.out[0] * s.out[1] * s.out[2];
  const int64_t block = std::min(pixels, std::max<int64_t>(96, kGatherBytes / (std::max<int64_t>(depth, 1) * int64_t(sizeof(T)))));
  // Group g's B (live taps * Cg) x Kg is the transpose of its live weight, which matmul packs
  // with a vectorized transpose.
  const at::Tensor w = live_weight(weight, s, live);
  std::vector<T> gathered(block * depth);
  for (int64_t p0 = 0; p0 < pixels; p0 += block) {
    const int64_t count = std::min(block, pixels - p0);
    for (int64_t g = 0; g < s.G; ++g) {
      at::parallel_for(0, count, 16, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) gather(s, live, x, g, p0 + p, gathered.data() + p * depth);
      });
      const T* group_bias = bias == nullptr ? nullptr : bias + g * Kg;
      matmul<T>(count, Kg, depth, gathered.data(), depth, 1, w.const_data_ptr<T>() + g * Kg * depth, 1, depth,
                y + p0 * s.K + g * Kg, s.K, [&](T* c, int64_t rows, int64_t n0, int64_t cols) {
                  bias_act::epilogue(rows, cols, c, s.K, group_bias == nullptr ? nullptr : group_bias + n0, act);
                });
    }
  }
}

// x_grad (N, in, C) = act(conv^T(y_grad (N, out, K), weight) + bias), the transposed conv, as
// col2im: per block of whole samples, one matmul per group gives every output pixel's
// products with each (live tap, channel) of the weight, then each input pixel sums the
// products of the taps that read it (a gather, so the threads never write the same pixel).
template <typename T>
void input_grad(const Shape& s, const T* gy, const at::Tensor& weight, const T* bias, bias_act::Activation act,
                T* gx) {
  const LiveTaps live(s);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), taps = live.count(), depth = taps * Cg;
  const int64_t out_pixels = s.out[0] * s.out[1] * s.out[2], in_pixels = s.in[0] * s.in[1] * s.in[2];
  const int64_t sample_bytes = std::max<int64_t>(1, out_pixels * depth * int64_t(sizeof(T)));
  const int64_t samples = std::clamp<int64_t>(kColumnBytes / sample_bytes, 1, std::max<int64_t>(s.N, 1));
  // (G, Kg, live taps, Cg): a product's channels of one tap contiguous, for the sums below
  const at::Tensor w = live_weight(weight, s, live);
  std::vector<T> columns(samples * out_pixels * depth);
  for (int64_t n0 = 0; n0 < s.N; n0 += samples) {
    const int64_t count = std::min(samples, s.N - n0);
    for (int64_t g = 0; g < s.G; ++g) {
      // columns (pixels x (taps * Cg)) = y_grad's rows (pixels x Kg) . group g's weight (Kg x (taps * Cg))
      matmul<T>(count * out_pixels, depth, Kg, gy + n0 * out_pixels * s.K + g * Kg, s.K, 1,
                w.const_data_ptr<T>() + g * Kg * depth, depth, 1, columns.data(), depth,
                [](T*, int64_t, int64_t, int64_t) {});
      at::parallel_for(0, count * in_pixels, 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t iw = i % s.in[2], ih = i / s.in[2] % s.in[1], id = i / (s.in[2] * s.in[1]) % s.in[0];
          const T* sample = columns.data() + i / in_pixels * out_pixels * depth;
          T* dst = gx + (n0 * in_pixels + i) * s.C + g * Cg;
          std::fill_n(dst, Cg, T(0));
          int64_t tap = 0;
          for (const int64_t t : live.taps[0]) {
            const int64_t od = output_index(t, s.stride[0], s.pad[0], s.dil[0], id, s.out[0]);
            for (const int64_t r : live.taps[1]) {
              const int64_t oh = output_index(r, s.stride[1], s.pad[1], s.dil[1], ih, s.out[1]);
              for (const int64_t q : live.taps[2]) {
                const int64_t ow = output_index(q, s.stride[2], s.pad[2], s.dil[2], iw, s.out[2]);
                if (od >= 0 && oh >= 0 && ow >= 0) {
                  const T* src = sample + ((od * s.out[1] + oh) * s.out[2] + ow) * depth + tap * Cg;
                  for (int64_t c = 0; c < Cg; ++c) dst[c] += src[c];
                }
                ++tap;
              }
            }
          }
          bias_act::epilogue(1, Cg, dst, s.C, bias == nullptr ? nullptr : bias + g * Cg, act);
        }
      });
    }
  }
}

}  // namespace im2col
}  // namespace zoo::conv
