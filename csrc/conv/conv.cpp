// CPU kernels of zoo::conv and zoo::conv_transpose: implicit GEMM on channels-last
// data, with no im2col buffer.
//
// In N, D, H, W, C layout one row of outputs along W, for one filter tap, is a
// GEMM whose A rows are input pixels a fixed stride apart: out[j, :] +=
// x[j * stride + offset, :] . W_tap. Our register tile (common/gemm.h) sums every
// tap of a row before storing it; pixels near the left and right edges, where
// some taps fall in the padding, are done one at a time with those taps left out
// (or, where they are many, read a copy of the input with the padding written out).
// The gradient w.r.t. the input is the same routine run on grad_out, one residue
// class of input columns mod the stride at a time (each class sees a fixed set
// of taps), or, with few channels per group, one wide GEMM per row and tap row;
// the gradient w.r.t. the weight is one GEMM per tap over blocks of gathered
// pixels, or with few input channels one tile per tap over input rows read in
// place, summed in per-thread buffers. Depthwise convolutions have their own
// kernels (depthwise.h), 3x3 stride-1 convs run Winograd's algorithm
// (winograd.h), and convs with short output rows run im2col / col2im (im2col.h).
// Work is spread over rows with at::parallel_for.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "bias_act/bias_act.h"
#include "bias_act/epilogue.h"
#include "common/column_sums.h"
#include "common/gemm.h"
#include "conv/conv.h"
#include "conv/depthwise.h"
#include "conv/im2col.h"
#include "conv/ops.h"
#include "conv/winograd.h"

namespace zoo::conv {
namespace {

using at::vec::Vectorized;
using bias_act::Activation;
using bias_act::epilogue;

constexpr int64_t kPixelBlock = 256;  // output pixels per weight-gradient GEMM
constexpr int64_t kFewChannels = 8;  // fewer input channels: the weight gradient reads input rows in place
constexpr int64_t kRowBlock = 16;  // output rows per work item of that weight gradient

// One filter tap's share of a row of outputs: row j (lo <= j < hi) reads
// A[a_off + j * a_m, + depth) against packed B rows [b_row, b_row + depth).
struct Segment {
  int64_t a_off, b_row, depth, lo, hi;
};

// Segments that continue one another in both A and B (the taps along W of a
// dense convolution) merged into one, valid where all of them are: interior
// rows then run a few long GEMMs instead of many short ones (7x7 on 3 channels).
std::vector<Segment> merged(const std::vector<Segment>& segs) {
  std::vector<Segment> out;
  for (const Segment& s : segs) {
    if (!out.empty()) {
      Segment& last = out.back();
      if (last.a_off + last.depth == s.a_off && last.b_row + last.depth == s.b_row) {
        last.depth += s.depth, last.lo = std::max(last.lo, s.lo), last.hi = std::min(last.hi, s.hi);
        continue;
      }
    }
    out.push_back(s);
  }
  return out;
}

// One tile of MR rows starting at row j, summing the segments valid at j.
template <typename T, int MR>
void segment_tile(int64_t j, int64_t cols, const std::vector<Segment>& segs, const T* A, int64_t a_m, const T* B,
                  T* C, int64_t ldc) {
  constexpr int64_t nr = panel_width<T>();
  Tile<T, MR> tile(cols);
  for (const Segment& s : segs) {
    if (j >= s.lo && j < s.hi) tile.madd(s.depth, A + (s.a_off + j * a_m), a_m, 1, B + s.b_row * nr, nr);
  }
  tile.store(C + j * ldc, ldc, false);
}

// Rows j in [0, J) of C (rows ldc apart, n_cols columns) = the sum of the
// segments valid at j. Rows every segment covers go a register tile at a time
// (for_each_row_tile), with the segments merged; the rest one by one with only their
// valid segments; rows no segment covers get 0.
template <typename T>
void segmented_rows(int64_t J, const std::vector<Segment>& segs, const T* A, int64_t a_m, const T* packed,
                    int64_t packed_rows, int64_t n_cols, T* C, int64_t ldc) {
  constexpr int64_t nr = panel_width<T>();
  int64_t lo = 0, hi = J;
  for (const Segment& s : segs) lo = std::max(lo, s.lo), hi = std::min(hi, s.hi);
  hi = std::max(lo, hi);
  const std::vector<Segment> interior = merged(segs);
  for (int64_t col = 0; col < n_cols; col += nr) {
    const T* B = packed + (col / nr) * packed_rows * nr;
    const int64_t cols = std::min(nr, n_cols - col);
    auto tile = [&](int64_t j, int64_t rows, const std::vector<Segment>& list) {
      with_tile_rows(rows, [&](auto mr) { segment_tile<T, mr>(j, cols, list, A, a_m, B, C + col, ldc); });
    };
    for (int64_t j = 0; j < lo; ++j) tile(j, 1, segs);
    for_each_row_tile(hi - lo, [&](int64_t j, int64_t rows) { tile(lo + j, rows, interior); });
    for (int64_t j = hi; j < J; ++j) tile(j, 1, segs);
  }
}

// Output columns where some width tap reads padding, which segmented_rows does one at a time.
int64_t edge_columns(const Shape& s) {
  int64_t lo = 0, hi = s.out[2];
  for (int64_t q = 0; q < s.ker[2]; ++q) {
    const Columns c = columns(s, q);
    lo = std::max(lo, c.lo), hi = std::min(hi, c.hi);
  }
  return s.out[2] - std::max<int64_t>(0, hi - lo);
}

// Calls f(shape, x), or with `pad` f on a copy of x (N, D, H, W, C) with its width padding
// written out as zeros and the shape that reads it with none: every output column then has
// all its width taps. The copy is cheap next to a conv with few channels or narrow rows,
// where the edge columns' one-row tiles are not.
template <typename T, typename F>
void with_width_padding(const Shape& s, const T* x, bool pad, F&& f) {
  if (!pad || s.pad[2] == 0) return f(s, x);
  Shape padded = s;
  padded.in[2] = s.in[2] + 2 * s.pad[2], padded.pad[2] = 0;
  const int64_t rows = s.N * s.in[0] * s.in[1], row = s.in[2] * s.C, margin = s.pad[2] * s.C;
  const int64_t padded_row = row + 2 * margin;
  std::vector<T> copy(rows * padded_row);  // zeros
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) std::copy_n(x + r * row, row, copy.data() + r * padded_row + margin);
  });
  f(padded, copy.data());
}

// weight (K, C/G, taps) as G matrices (taps * rows_per_tap) x cols, packed into column panels:
// for the forward pass rows are (tap, c) and columns k; for grad-input rows are (tap, k), columns c.
template <typename T>
std::vector<T> pack_weight(const at::Tensor& weight, const Shape& s, bool for_input_grad) {
  const at::Tensor w = weight.reshape({s.G, s.Kg(), s.Cg(), s.taps()});
  const at::Tensor m = (for_input_grad ? w.permute({0, 3, 1, 2}) : w.permute({0, 3, 2, 1})).contiguous();
  const int64_t rows = m.size(1) * m.size(2), cols = m.size(3);
  std::vector<T> packed;
  for (int64_t g = 0; g < s.G; ++g) {
    const std::vector<T> p = pack_panels(rows, cols, m.const_data_ptr<T>() + g * rows * cols, cols);
    packed.insert(packed.end(), p.begin(), p.end());
  }
  return packed;
}

template <typename T>
int64_t group_panel_size(int64_t rows, int64_t cols) {
  constexpr int64_t nr = panel_width<T>();
  return (cols + nr - 1) / nr * rows * nr;
}

// forward_kernel's implicit GEMM.
template <typename T>
void forward_direct(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, Activation act, T* y) {
  const std::vector<T> packed = pack_weight<T>(weight, s, false);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), depth = s.taps() * Cg, panel = group_panel_size<T>(depth, Kg);
  const int64_t rows = s.N * s.out[0] * s.out[1];
  at::parallel_for(0, rows * s.G, 1, [&](int64_t begin, int64_t end) {
    std::vector<Segment> segs;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t g = item % s.G, row = item / s.G;
      const int64_t oh = row % s.out[1], od = row / s.out[1] % s.out[0], n = row / (s.out[1] * s.out[0]);
      segs.clear();
      for_each_input_row(s, n, od, oh, [&](int64_t t, int64_t r, int64_t in_row) {
        for (int64_t q = 0; q < s.ker[2]; ++q) {
          const Columns c = columns(s, q);
          if (c.lo < c.hi) {
            segs.push_back({(in_row * s.in[2] + c.off) * s.C + g * Cg, ((t * s.ker[1] + r) * s.ker[2] + q) * Cg, Cg,
                            c.lo, c.hi});
          }
        }
      });
      T* out = y + row * s.out[2] * s.K + g * Kg;
      segmented_rows(s.out[2], segs, x, s.stride[2] * s.C, packed.data() + g * panel, depth, Kg, out, s.K);
      epilogue(s.out[2], Kg, out, s.K, bias == nullptr ? nullptr : bias + g * Kg, act);
    }
  });
}

// y (N, out, K) = act(conv(x (N, in, C), weight) + bias), both channels-last. Rows with an
// eighth or more of their columns at an edge (a 7x7x7 stem's 16-column rows have 3) read a
// copy of x with its width padding written out.
template <typename T>
void forward_kernel(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, Activation act, T* y) {
  if (is_depthwise(s)) return depthwise::forward(s, x, weight, bias, act, y);
  if (use_winograd_forward(s)) return winograd::forward(s, x, weight, bias, act, y);
  if (has_short_rows(s)) return im2col::forward(s, x, weight, bias, act, y);
  with_width_padding(s, x, edge_columns(s) * 8 >= s.out[2], [&](const Shape& shape, const T* input) {
    forward_direct(shape, input, weight, bias, act, y);
  });
}

// input_grad_kernel for few input channels per group (the first layer's 3), where
// a register tile Cg columns wide would be mostly empty lanes: for each output row
// that reaches an input row, one GEMM gives every (tap along W, channel) product
// of every pixel, S * Cg columns wide, which are then added into place.
template <typename T>
void input_grad_few_channels(const Shape& s, const T* gy, const at::Tensor& weight, const T* bias, Activation act,
                             T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), S = s.ker[2], cols = S * Cg;
  // (G, T, R, Kg, S, Cg): for each group and (t, r) tap, a Kg x (S * Cg) matrix.
  const at::Tensor wt = weight.reshape({s.G, Kg, Cg, s.ker[0], s.ker[1], S}).permute({0, 3, 4, 1, 5, 2}).contiguous();
  const T* w = wt.const_data_ptr<T>();
  const int64_t rows = s.N * s.in[0] * s.in[1];
  at::parallel_for(0, rows * s.G, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> products(s.out[2] * cols);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t g = item % s.G, row = item / s.G;
      const int64_t ih = row % s.in[1], id = row / s.in[1] % s.in[0], n = row / (s.in[1] * s.in[0]);
      T* out_row = gx + row * s.in[2] * s.C + g * Cg;
      for (int64_t i = 0; i < s.in[2]; ++i) std::fill_n(out_row + i * s.C, Cg, T(0));
      for_each_output_row(s, n, id, ih, [&](int64_t t, int64_t r, int64_t out_row_index) {
        const T* grad_row = gy + out_row_index * s.out[2] * s.K + g * Kg;
        gemm(s.out[2], cols, Kg, grad_row, s.K, 1, w + ((g * s.ker[0] + t) * s.ker[1] + r) * Kg * cols, cols,
             products.data(), cols, false);
        for (int64_t j = 0; j < s.out[2]; ++j) {
          for (int64_t q = 0; q < S; ++q) {
            const int64_t iw = j * s.stride[2] - s.pad[2] + q * s.dil[2];
            if (iw < 0 || iw >= s.in[2]) continue;
            const T* p = products.data() + j * cols + q * Cg;
            for (int64_t c = 0; c < Cg; ++c) out_row[iw * s.C + c] += p[c];
          }
        }
      });
      epilogue(s.in[2], Cg, out_row, s.C, bias == nullptr ? nullptr : bias + g * Cg, act);
    }
  });
}

// x_grad (N, in, C) = act(conv^T(y_grad (N, out, K), weight) + bias): the transposed convolution.
template <typename T>
void input_grad_kernel(const Shape& s, const T* gy, const at::Tensor& weight, const T* bias, Activation act, T* gx) {
  if (is_depthwise(s)) return depthwise::input_grad(s, gy, weight, bias, act, gx);
  if (use_winograd(s)) return winograd::input_grad(s, gy, weight, bias, act, gx);
  if (has_short_rows(s)) return im2col::input_grad(s, gy, weight, bias, act, gx);
  if (s.Cg() <= Vectorized<T>::size()) return input_grad_few_channels(s, gy, weight, bias, act, gx);
  const std::vector<T> packed = pack_weight<T>(weight, s, true);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), depth = s.taps() * Kg, panel = group_panel_size<T>(depth, Cg);
  const int64_t rows = s.N * s.in[0] * s.in[1], sw = s.stride[2];
  at::parallel_for(0, rows * s.G, 1, [&](int64_t begin, int64_t end) {
    std::vector<Segment> segs;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t g = item % s.G, row = item / s.G;
      const int64_t ih = row % s.in[1], id = row / s.in[1] % s.in[0], n = row / (s.in[1] * s.in[0]);
      T* out_row = gx + row * s.in[2] * s.C + g * Cg;
      for (int64_t rho = 0; rho < std::min(sw, s.in[2]); ++rho) {  // input columns rho + j * sw
        segs.clear();
        for_each_output_row(s, n, id, ih, [&](int64_t t, int64_t r, int64_t out_row_index) {
          for (int64_t q = 0; q < s.ker[2]; ++q) {
            const int64_t num = rho + s.pad[2] - q * s.dil[2];
            if (((num % sw) + sw) % sw != 0) continue;
            const int64_t shift = floor_div(num, sw);  // output column of row j: j + shift
            const int64_t J = ceil_div(s.in[2] - rho, sw);
            const int64_t lo = std::max<int64_t>(0, -shift), hi = std::min(J, s.out[2] - shift);
            if (lo >= hi) continue;
            segs.push_back({(out_row_index * s.out[2] + shift) * s.K + g * Kg, ((t * s.ker[1] + r) * s.ker[2] + q) * Kg,
                            Kg, lo, hi});
          }
        });
        segmented_rows(ceil_div(s.in[2] - rho, sw), segs, gy, s.K, packed.data() + g * panel, depth, Cg,
                       out_row + rho * s.C, sw * s.C);
      }
      epilogue(s.in[2], Cg, out_row, s.C, bias == nullptr ? nullptr : bias + g * Cg, act);
    }
  });
}

// weight_grad_kernel for few input channels, ungrouped (one-channel volumes and spectrograms,
// RGB stems), where a tap's GEMM would have only C rows. For one output row and one (depth,
// height) tap, width tap q and channel c read x_row[(j * stride + q * dil) * C + c] at output
// column j: a (q, c) x j matrix of shifted copies of one input row, which the register tile
// reads in place (rows 1 apart where dil is 1), times the gradient's row (j x K). s has no width
// padding (with_width_padding), so every column has every tap. A tile stays in registers over
// the rows of a block of the (n, d) plane, then adds into acc (thread, tap, c, k).
template <typename T>
void weight_grad_few_channels(const Shape& s, const T* x, const T* gy, std::vector<T>& partial, int64_t size) {
  constexpr int64_t nr = panel_width<T>();
  const int64_t S = s.ker[2], C = s.C, K = s.K, a_k = s.stride[2] * C;
  struct Run {  // acc rows [row, row + rows) of a tap, row m reading x_row[a_off + m * a_m + j * a_k]
    int64_t row, rows, a_off, a_m;
  };
  std::vector<Run> runs;
  if (s.dil[2] == 1 || C == 1) {
    runs.push_back({0, S * C, 0, C == 1 ? s.dil[2] : 1});
  } else {
    for (int64_t q = 0; q < S; ++q) runs.push_back({q * C, C, q * s.dil[2] * C, 1});
  }
  const int64_t blocks = ceil_div(s.out[1], kRowBlock);
  at::parallel_for(0, s.N * s.out[0] * blocks, 1, [&](int64_t begin, int64_t end) {
    T* acc = partial.data() + at::get_thread_num() * size;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t oh0 = item % blocks * kRowBlock, oh1 = std::min(s.out[1], oh0 + kRowBlock);
      const int64_t od = item / blocks % s.out[0], n = item / blocks / s.out[0];
      for (int64_t t = 0; t < s.ker[0]; ++t) {
        const int64_t id = od * s.stride[0] - s.pad[0] + t * s.dil[0];
        if (id < 0 || id >= s.in[0]) continue;
        for (int64_t r = 0; r < s.ker[1]; ++r) {
          T* acc_tap = acc + (t * s.ker[1] + r) * S * C * K;
          for (const Run& run : runs) {
            for_each_row_tile(run.rows, [&](int64_t m, int64_t rows) {
              with_tile_rows(rows, [&](auto mr) {
                for (int64_t col = 0; col < K; col += nr) {
                  Tile<T, mr> tile(std::min(nr, K - col));
                  for (int64_t oh = oh0; oh < oh1; ++oh) {
                    const int64_t ih = oh * s.stride[1] - s.pad[1] + r * s.dil[1];
                    if (ih < 0 || ih >= s.in[1]) continue;
                    const T* x_row = x + ((n * s.in[0] + id) * s.in[1] + ih) * s.in[2] * C;
                    const T* grad_row = gy + ((n * s.out[0] + od) * s.out[1] + oh) * s.out[2] * K + col;
                    tile.madd(s.out[2], x_row + run.a_off + m * run.a_m, run.a_m, a_k, grad_row, K);
                  }
                  tile.store(acc_tap + (run.row + m) * K + col, K, true);
                }
              });
            });
          }
        }
      }
    }
  });
}

// weight_grad_kernel for the rest: output pixels go in blocks of kPixelBlock across rows of one
// (n, d) plane; for each tap the block's input pixels are gathered into a (pixels x C) matrix
// (zeros where the tap reads padding), and one GEMM per group adds its transpose times the
// block's gradient rows, which NDHWC keeps contiguous. Long GEMMs keep the (Cg x Kg)
// accumulator tiles from being reloaded every few pixels (a 14x14 map has only 14 per row).
template <typename T>
void weight_grad_gathered(const Shape& s, const T* x, const T* gy, std::vector<T>& partial, int64_t size) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), taps = s.taps();
  const int64_t plane = s.out[1] * s.out[2], blocks = ceil_div(plane, kPixelBlock);
  at::parallel_for(0, s.N * s.out[0] * blocks, 1, [&](int64_t begin, int64_t end) {
    T* acc = partial.data() + at::get_thread_num() * size;
    std::vector<T> patch(kPixelBlock * s.C);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t p0 = item % blocks * kPixelBlock, pixels = std::min(kPixelBlock, plane - p0);
      const int64_t od = item / blocks % s.out[0], n = item / blocks / s.out[0];
      const T* grad = gy + ((n * s.out[0] + od) * plane + p0) * s.K;
      for (int64_t t = 0; t < s.ker[0]; ++t) {
        const int64_t id = od * s.stride[0] - s.pad[0] + t * s.dil[0];
        if (id < 0 || id >= s.in[0]) continue;
        for (int64_t r = 0; r < s.ker[1]; ++r) {
          for (int64_t q = 0; q < s.ker[2]; ++q) {
            for (int64_t p = 0; p < pixels; ++p) {
              const int64_t oh = (p0 + p) / s.out[2], ow = (p0 + p) % s.out[2];
              const int64_t ih = oh * s.stride[1] - s.pad[1] + r * s.dil[1];
              const int64_t iw = ow * s.stride[2] - s.pad[2] + q * s.dil[2];
              T* dst = patch.data() + p * s.C;
              if (ih < 0 || ih >= s.in[1] || iw < 0 || iw >= s.in[2]) {
                std::fill_n(dst, s.C, T(0));
              } else {
                std::copy_n(x + (((n * s.in[0] + id) * s.in[1] + ih) * s.in[2] + iw) * s.C, s.C, dst);
              }
            }
            const int64_t tap = (t * s.ker[1] + r) * s.ker[2] + q;
            for (int64_t g = 0; g < s.G; ++g) {
              // (Cg x Kg) += patch^T (Cg x pixels) . grad rows (pixels x Kg)
              gemm(Cg, Kg, pixels, patch.data() + g * Cg, 1, s.C, grad + g * Kg, s.K,
                   acc + (g * taps + tap) * Cg * Kg, Kg, true);
            }
          }
        }
      }
    }
  });
}

// weight_grad (K, C/G, ker) = sum over output pixels of y_grad (x) the input pixel each tap
// reads, summed in per-thread buffers (thread, g, tap, c, k).
template <typename T>
void weight_grad_kernel(const Shape& s, const T* x, const T* gy, T* gw) {
  if (is_depthwise(s)) return depthwise::weight_grad(s, x, gy, gw);
  if (use_winograd(s)) return winograd::weight_grad(s, x, gy, gw);
  const int64_t Cg = s.Cg(), Kg = s.Kg(), taps = s.taps(), size = s.G * taps * Cg * Kg;
  std::vector<T> partial(static_cast<size_t>(at::get_num_threads()) * size, T(0));
  if (s.G == 1 && s.C < kFewChannels) {
    with_width_padding(s, x, true, [&](const Shape& shape, const T* input) {
      weight_grad_few_channels(shape, input, gy, partial, size);
    });
  } else {
    weight_grad_gathered(s, x, gy, partial, size);
  }
  for (int64_t i = 1; i < at::get_num_threads(); ++i) {
    for (int64_t e = 0; e < size; ++e) partial[e] += partial[i * size + e];
  }
  for (int64_t g = 0; g < s.G; ++g)
    for (int64_t tap = 0; tap < taps; ++tap)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t k = 0; k < Kg; ++k) gw[((g * Kg + k) * Cg + c) * taps + tap] = partial[((g * taps + tap) * Cg + c) * Kg + k];
}

// The CPU kernels behind Ops (conv/ops.h).
struct CpuKernels {
  using Guard = NoDeviceGuard;
  static void check_dtype(const char* op, const at::Tensor& x) { check_cpu_dtype(op, "x", x); }

  static void forward(const Shape& s, const at::Tensor& x5, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, Activation act, at::Tensor& y) {
    AT_DISPATCH_FLOATING_TYPES(x5.scalar_type(), "zoo_conv", [&] {
      forward_kernel<scalar_t>(s, x5.const_data_ptr<scalar_t>(), weight, data_or_null<scalar_t>(bias), act,
                               y.mutable_data_ptr<scalar_t>());
    });
  }

  static void input_grad(const Shape& s, const at::Tensor& gy5, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, Activation act, at::Tensor& gx) {
    AT_DISPATCH_FLOATING_TYPES(gy5.scalar_type(), "zoo_conv_input_grad", [&] {
      input_grad_kernel<scalar_t>(s, gy5.const_data_ptr<scalar_t>(), weight, data_or_null<scalar_t>(bias), act,
                                  gx.mutable_data_ptr<scalar_t>());
    });
  }

  static at::Tensor weight_grad(const Shape& s, const at::Tensor& x5, const at::Tensor& gy5,
                                const at::Tensor& weight) {
    at::Tensor gw = at::empty_like(weight, at::MemoryFormat::Contiguous);
    AT_DISPATCH_FLOATING_TYPES(x5.scalar_type(), "zoo_conv_weight_grad", [&] {
      weight_grad_kernel<scalar_t>(s, x5.const_data_ptr<scalar_t>(), gy5.const_data_ptr<scalar_t>(),
                                   gw.mutable_data_ptr<scalar_t>());
    });
    return gw;
  }

  static at::Tensor channel_sum(const at::Tensor& t5) {
    at::Tensor out = at::empty({t5.size(1)}, t5.options());
    AT_DISPATCH_FLOATING_TYPES(t5.scalar_type(), "zoo_conv_bias_grad", [&] {
      column_sums<scalar_t>(t5.numel() / std::max<int64_t>(t5.size(1), 1), t5.size(1),
                            t5.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>());
    });
    return out;
  }
};

using CpuOps = Ops<CpuKernels>;

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("conv", &CpuOps::conv);
  m.impl("conv_backward", &CpuOps::conv_backward);
  m.impl("conv_transpose", &CpuOps::conv_transpose);
  m.impl("conv_transpose_backward", &CpuOps::conv_transpose_backward);
}

}  // namespace zoo::conv
