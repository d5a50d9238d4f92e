// Winograd F(2x2, 3x3) convolution on the CPU, for the 3x3, stride-1, undilated,
// ungrouped convs that make up ResNet's and VGG's bodies (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016). A 2x2 block of outputs
// comes from a 4x4 block of inputs through 16 channel products instead of 36:
//
//   y = A^T [ U (.) V ] A,   U = G w G^T (per (c, k)),   V = B^T d B (per tile and c),
//
// where (.) sums over the input channels, so each of the 16 positions of the 4x4
// transform is one GEMM (tiles x C) . (C x K), 2.25x fewer multiply-adds than the
// direct conv's. The transforms' coefficients are 0, +-1 and +-1/2, exact in
// binary; their adds vectorize along the channels, which channels-last makes
// contiguous. Tiles go in blocks small enough that a block's 16 transformed input
// and output matrices stay in L2 from the transform through the GEMMs to the
// inverse transform.
//
// The gradient w.r.t. the input of such a conv is the same kind of conv (weight
// transposed and flipped, padding 2 - pad), and the gradient w.r.t. the weight is
// the adjoint of the forward's formula: dU = sum over tiles of V^T (A dy A^T), one
// GEMM per position, then dw = G^T dU G.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <vector>

#include "bias_act/epilogue.h"
#include "common/gemm.h"
#include "conv/conv.h"

namespace zoo::conv {

// Below this many channels on either side the GEMMs are too thin for the saved
// multiply-adds to pay for the transforms.
constexpr int64_t kWinogradMinChannels = 16;

inline bool is_winograd(const Shape& s) {
  const bool three_by_three = s.ker == Dims{1, 3, 3} && s.pad[0] == 0 && s.pad[1] <= 2 && s.pad[2] <= 2;
  return s.G == 1 && three_by_three && s.stride == Dims{1, 1, 1} && s.dil == Dims{1, 1, 1} &&
         s.C >= kWinogradMinChannels && s.K >= kWinogradMinChannels;
}

namespace winograd {

constexpr int64_t kPositions = 16;          // the 4x4 transform
constexpr int64_t kBlockBytes = 512 << 10;  // a block's transformed inputs and outputs: half of a core's L2

// 2x2 output tiles over every (n, d) plane; tile p's input block starts at (2 th - pad_h, 2 tw - pad_w).
struct Tiles {
  int64_t planes, rows, cols;  // rows x cols tiles per plane
  explicit Tiles(const Shape& s)
      : planes(s.N * s.out[0]), rows((s.out[1] + 1) / 2), cols((s.out[2] + 1) / 2) {}
  int64_t count() const { return planes * rows * cols; }
};

// Tiles per block: a multiple of the GEMM's 6-row tile with `width` transformed values per tile and position.
template <typename T>
int64_t block_tiles(int64_t width) {
  return std::clamp<int64_t>(kBlockBytes / (kPositions * width * int64_t(sizeof(T))) / 6 * 6, 6, 120);
}

// (a0, a1, a2, a3) -> B^T a = (a0 - a2, a1 + a2, a2 - a1, a1 - a3), the input transform along one dim.
template <typename V>
C10_ALWAYS_INLINE void input_1d(V& a0, V& a1, V& a2, V& a3) {
  const V b0 = a0 - a2, b1 = a1 + a2, b2 = a2 - a1, b3 = a1 - a3;
  a0 = b0, a1 = b1, a2 = b2, a3 = b3;
}

// (m0, m1, m2, m3) -> A^T m = (m0 + m1 + m2, m1 - m2 - m3), the output transform along one dim.
template <typename V>
C10_ALWAYS_INLINE std::array<V, 2> output_1d(const V& m0, const V& m1, const V& m2, const V& m3) {
  return {m0 + m1 + m2, m1 - m2 - m3};
}

// (e0, e1) -> A e = (e0, e0 + e1, e0 - e1, -e1), the adjoint of output_1d.
template <typename V>
C10_ALWAYS_INLINE std::array<V, 4> output_adjoint_1d(const V& e0, const V& e1) {
  return {e0, e0 + e1, e0 - e1, V(0) - e1};
}

// A channel vector of `len` values at `p`, or zeros where `inside` is false (the padding).
template <typename T>
C10_ALWAYS_INLINE at::vec::Vectorized<T> load_or_zero(bool inside, const T* p, int64_t len) {
  using Vec = at::vec::Vectorized<T>;
  if (!inside) return Vec(T(0));
  return len == Vec::size() ? Vec::loadu(p) : Vec::loadu(p, len);
}

// V[pos][c] (positions `stride` apart) = B^T d B of the 4x4 input block at (h0, w0) of
// the plane at `x` (H x W pixels of C channels), zeros outside the plane.
template <typename T>
void transform_input(const T* x, int64_t H, int64_t W, int64_t C, int64_t h0, int64_t w0, T* V, int64_t stride) {
  using Vec = at::vec::Vectorized<T>;
  for (int64_t c = 0; c < C; c += Vec::size()) {
    const int64_t len = std::min<int64_t>(Vec::size(), C - c);
    Vec d[4][4];
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        const int64_t h = h0 + i, w = w0 + j;
        d[i][j] = load_or_zero(h >= 0 && h < H && w >= 0 && w < W, x + (h * W + w) * C + c, len);
      }
    }
    for (int j = 0; j < 4; ++j) input_1d(d[0][j], d[1][j], d[2][j], d[3][j]);
    for (int i = 0; i < 4; ++i) input_1d(d[i][0], d[i][1], d[i][2], d[i][3]);
    for (int pos = 0; pos < kPositions; ++pos) d[pos / 4][pos % 4].store(V + pos * stride + c, len);
  }
}

// The 2x2 outputs A^T M A of one tile (M[pos][k], positions `stride` apart) at (h0, w0)
// of the plane at `y` (H x W pixels of K channels), those inside it, with bias and act.
template <typename T>
void transform_output(const T* M, int64_t stride, int64_t K, T* y, int64_t H, int64_t W, int64_t h0, int64_t w0,
                      const T* bias, bias_act::Activation act) {
  using Vec = at::vec::Vectorized<T>;
  for (int64_t k = 0; k < K; k += Vec::size()) {
    const int64_t len = std::min<int64_t>(Vec::size(), K - k);
    Vec m[4][4];
    for (int pos = 0; pos < kPositions; ++pos) m[pos / 4][pos % 4] = Vec::loadu(M + pos * stride + k, len);
    std::array<Vec, 2> rows[4];  // rows[j] = A^T applied down column j
    for (int j = 0; j < 4; ++j) rows[j] = output_1d(m[0][j], m[1][j], m[2][j], m[3][j]);
    for (int i = 0; i < 2 && h0 + i < H; ++i) {
      const std::array<Vec, 2> out = output_1d(rows[0][i], rows[1][i], rows[2][i], rows[3][i]);
      for (int j = 0; j < 2 && w0 + j < W; ++j) out[j].store(y + ((h0 + i) * W + w0 + j) * K + k, len);
    }
  }
  for (int i = 0; i < 2 && h0 + i < H; ++i) {
    for (int j = 0; j < 2 && w0 + j < W; ++j) bias_act::epilogue(1, K, y + ((h0 + i) * W + w0 + j) * K, K, bias, act);
  }
}

// The 4x4 A dy A^T of the 2x2 gradient tile at (h0, w0) of the plane at `gy` (H x W pixels
// of K channels), zeros outside it, into E[pos][k] (positions `stride` apart).
template <typename T>
void transform_output_grad(const T* gy, int64_t H, int64_t W, int64_t K, int64_t h0, int64_t w0, T* E,
                           int64_t stride) {
  using Vec = at::vec::Vectorized<T>;
  for (int64_t k = 0; k < K; k += Vec::size()) {
    const int64_t len = std::min<int64_t>(Vec::size(), K - k);
    Vec e[2][2];
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const int64_t h = h0 + i, w = w0 + j;
        e[i][j] = load_or_zero(h < H && w < W, gy + (h * W + w) * K + k, len);
      }
    }
    const std::array<Vec, 4> col0 = output_adjoint_1d(e[0][0], e[1][0]), col1 = output_adjoint_1d(e[0][1], e[1][1]);
    for (int i = 0; i < 4; ++i) {
      const std::array<Vec, 4> row = output_adjoint_1d(col0[i], col1[i]);
      for (int j = 0; j < 4; ++j) row[j].store(E + (i * 4 + j) * stride + k, len);
    }
  }
}

constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

// weight (K, C, 3, 3) as U = G w G^T: 16 (C x K) matrices, written straight into the
// column panels gemm_panels reads (common/gemm.h), zero-padded to whole panels.
template <typename T>
std::vector<T> transform_weight(const at::Tensor& weight, int64_t K, int64_t C) {
  constexpr int64_t NR = panel_width<T>();
  const at::Tensor wc = weight.reshape({K, C, 3, 3}).contiguous();
  const T* w = wc.const_data_ptr<T>();
  const int64_t panel = (K + NR - 1) / NR * C * NR;  // one position's panels
  std::vector<T> U(kPositions * panel, T(0));
  at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* column = U.data() + k / NR * C * NR + k % NR;  // (c, k) of position pos at column[pos * panel + c * NR]
      for (int64_t c = 0; c < C; ++c) {
        const T* g = w + (k * C + c) * 9;
        for (int i = 0; i < 4; ++i) {
          T row[3];  // (G w)[i]
          for (int q = 0; q < 3; ++q) row[q] = T(kG[i][0]) * g[q] + T(kG[i][1]) * g[3 + q] + T(kG[i][2]) * g[6 + q];
          for (int j = 0; j < 4; ++j) {
            column[(i * 4 + j) * panel + c * NR] = T(kG[j][0]) * row[0] + T(kG[j][1]) * row[1] + T(kG[j][2]) * row[2];
          }
        }
      }
    }
  });
  return U;
}

// y (N, out, K) = act(conv(x (N, in, C), weight) + bias), both channels-last.
template <typename T>
void forward(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, bias_act::Activation act, T* y) {
  const int64_t C = s.C, K = s.K, H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const std::vector<T> U = transform_weight<T>(weight, K, C);
  const int64_t panels = U.size() / kPositions;
  const Tiles tiles(s);
  const int64_t block = block_tiles<T>(C + K), plane_tiles = tiles.rows * tiles.cols;
  at::parallel_for(0, (tiles.count() + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> V(kPositions * block * C), M(kPositions * block * K);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t p0 = b * block, count = std::min(block, tiles.count() - p0);
      for (int64_t p = p0; p < p0 + count; ++p) {
        const int64_t plane = p / plane_tiles, h0 = p % plane_tiles / tiles.cols * 2, w0 = p % tiles.cols * 2;
        transform_input(x + plane * H * W * C, H, W, C, h0 - s.pad[1], w0 - s.pad[2], V.data() + (p - p0) * C,
                        block * C);
      }
      for (int64_t pos = 0; pos < kPositions; ++pos) {
        gemm_panels(count, 0, K, C, V.data() + pos * block * C, C, 1, U.data() + pos * panels,
                    M.data() + pos * block * K, K, false);
      }
      for (int64_t p = p0; p < p0 + count; ++p) {
        const int64_t plane = p / plane_tiles, h0 = p % plane_tiles / tiles.cols * 2, w0 = p % tiles.cols * 2;
        transform_output(M.data() + (p - p0) * K, block * K, K, y + plane * OH * OW * K, OH, OW, h0, w0, bias, act);
      }
    }
  });
}

// x_grad (N, in, C) = act(conv^T(y_grad (N, out, K), weight) + bias): the forward conv of
// y_grad by the weight transposed and flipped, with padding 2 - pad.
template <typename T>
void input_grad(const Shape& s, const T* gy, const at::Tensor& weight, const T* bias, bias_act::Activation act,
                T* gx) {
  Shape adjoint = s;
  adjoint.C = s.K, adjoint.K = s.C, adjoint.in = s.out, adjoint.out = s.in;
  adjoint.pad = {0, 2 - s.pad[1], 2 - s.pad[2]};
  const at::Tensor flipped = weight.reshape({s.K, s.C, 3, 3}).transpose(0, 1).flip({2, 3});
  forward(adjoint, gy, flipped, bias, act, gx);
}

// weight_grad (K, C, 3, 3) = G^T dU G, dU[pos] (C x K) = sum over tiles of V[pos]^T E[pos]
// with V the input transform and E = A dy A^T; per-thread sums of dU, then one reduction.
template <typename T>
void weight_grad(const Shape& s, const T* x, const T* gy, T* gw) {
  const int64_t C = s.C, K = s.K, H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const Tiles tiles(s);
  const int64_t block = block_tiles<T>(C + K), plane_tiles = tiles.rows * tiles.cols, size = kPositions * C * K;
  std::vector<T> partial(static_cast<size_t>(at::get_num_threads()) * size, T(0));  // (thread, pos, c, k)
  at::parallel_for(0, (tiles.count() + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
    T* acc = partial.data() + at::get_thread_num() * size;
    std::vector<T> V(kPositions * block * C), E(kPositions * block * K);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t p0 = b * block, count = std::min(block, tiles.count() - p0);
      for (int64_t p = p0; p < p0 + count; ++p) {
        const int64_t plane = p / plane_tiles, h0 = p % plane_tiles / tiles.cols * 2, w0 = p % tiles.cols * 2;
        transform_input(x + plane * H * W * C, H, W, C, h0 - s.pad[1], w0 - s.pad[2], V.data() + (p - p0) * C,
                        block * C);
        transform_output_grad(gy + plane * OH * OW * K, OH, OW, K, h0, w0, E.data() + (p - p0) * K, block * K);
      }
      for (int64_t pos = 0; pos < kPositions; ++pos) {
        // (C x K) += V[pos]^T (C x count) . E[pos] (count x K)
        gemm(C, K, count, V.data() + pos * block * C, 1, C, E.data() + pos * block * K, K, acc + pos * C * K, K,
             true);
      }
    }
  });
  for (int64_t i = 1; i < at::get_num_threads(); ++i) {
    for (int64_t e = 0; e < size; ++e) partial[e] += partial[i * size + e];
  }
  at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t c = 0; c < C; ++c) {
        double dU[4][4];
        for (int pos = 0; pos < kPositions; ++pos) dU[pos / 4][pos % 4] = partial[(pos * C + c) * K + k];
        for (int r = 0; r < 3; ++r) {
          for (int q = 0; q < 3; ++q) {
            double sum = 0;
            for (int i = 0; i < 4; ++i)
              for (int j = 0; j < 4; ++j) sum += kG[i][r] * dU[i][j] * kG[j][q];
            gw[((k * C + c) * 3 + r) * 3 + q] = static_cast<T>(sum);
          }
        }
      }
    }
  });
}

}  // namespace winograd
}  // namespace zoo::conv
