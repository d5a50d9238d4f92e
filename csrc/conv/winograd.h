// Winograd F(2x2, 3x3) convolution on the CPU, for the 3x3, stride-1, undilated,
// ungrouped convs that make up ResNet's and VGG's bodies, and F(2x2x2, 3x3x3) for
// their 3-D kin in U-Net 3D (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016). A 2x2 block of outputs comes from a 4x4 block of inputs through
// 16 channel products instead of 36 (64 instead of 216 in 3-D):
//
//   y = A^T [ U (.) V ] A,   U = G w G^T (per (c, k)),   V = B^T d B (per tile and c),
//
// where (.) sums over the input channels, so each of the 16 positions of the 4x4
// transform is one GEMM (tiles x C) . (C x K), 2.25x (3.4x) fewer multiply-adds
// than the direct conv's. In 3-D every 1-D transform is applied along depth too.
// The transforms' coefficients are 0, +-1 and +-1/2, exact in binary; their adds
// vectorize along the channels, which channels-last makes contiguous. Tiles go in
// blocks: transform a block's inputs, run its GEMMs, transform its outputs back.
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
#include <numeric>
#include <vector>

#include "bias_act/epilogue.h"
#include "common/gemm.h"
#include "conv/algorithm.h"
#include "conv/conv.h"

namespace zoo::conv {

// Below this many channels on either side the GEMMs are too thin for the saved
// multiply-adds to pay for the transforms.
constexpr int64_t kWinogradMinChannels = 16;
// Below this many output tiles (2x2 or 2x2x2 outputs each) transforming the weight costs
// more than the products save: ResNet's 512-channel 7x7 maps at batch 1, 3-D ResNet's last
// stages. conv_algorithm("winograd") ignores it.
constexpr int64_t kWinogradMinTiles = 96;

// The spatial dims Winograd's algorithm transforms: 2 for 3x3 kernels (1x3x3 in
// 3-D: depth is then one more batch dim), 3 for 3x3x3 ones; 0 where it does not apply.
inline int winograd_dims(const Shape& s) {
  const bool applies = s.G == 1 && s.stride == Dims{1, 1, 1} && s.dil == Dims{1, 1, 1} &&
                       s.C >= kWinogradMinChannels && s.K >= kWinogradMinChannels && s.ker[1] == 3 &&
                       s.ker[2] == 3 && s.pad[1] <= 2 && s.pad[2] <= 2;
  if (!applies) return 0;
  if (s.ker[0] == 1 && s.pad[0] == 0) return 2;
  return s.ker[0] == 3 && s.pad[0] <= 2 ? 3 : 0;
}

namespace winograd {

using Activation = bias_act::Activation;

constexpr int64_t kSlice = 16;              // positions of the 4x4 transform of one depth slice
constexpr int64_t kBlockBytes = 512 << 10;  // a thread's share of a block's V and M: half of a core's L2
// Tiles per block at least, where U (or dU) overflows L2 as well: the forward's GEMMs read
// U once per block and the weight gradient's add to dU once, tiles/2 flops per byte.
constexpr int64_t kMinBlockTiles = 48;

// Extents along depth of the input block, the output tile and the kernel.
template <int D>
struct Depth {
  static constexpr int in = D == 3 ? 4 : 1, out = D == 3 ? 2 : 1, ker = D == 3 ? 3 : 1;
  static constexpr int64_t positions = in * kSlice;
};

// 2x2(x2) output tiles over every plane: (n) for 3-D, (n, d) for 2-D; a tile's input block
// starts at its output origin minus the padding.
template <int D>
struct Tiles {
  int64_t planes, depths, rows, cols;  // per plane, depths x rows x cols tiles
  explicit Tiles(const Shape& s)
      : planes(D == 3 ? s.N : s.N * s.out[0]), depths(D == 3 ? (s.out[0] + 1) / 2 : 1),
        rows((s.out[1] + 1) / 2), cols((s.out[2] + 1) / 2) {}
  int64_t count() const { return planes * depths * rows * cols; }
  // Tile p's plane and output origin (d0, h0, w0).
  std::array<int64_t, 4> origin(int64_t p) const {
    const int64_t w = p % cols, h = p / cols % rows, d = p / (cols * rows) % depths;
    return {p / (cols * rows * depths), 2 * d, 2 * h, 2 * w};
  }
};

// The row stride of a block's (tiles x n) matrices: n plus a cache line, so that with n a
// power of two the GEMMs' walks down a column do not all map to the same few L1 sets.
template <typename T>
int64_t padded(int64_t n) {
  return n + 64 / int64_t(sizeof(T));
}

// A thread's tiles per block: as many as keep their `width` transformed values per tile
// and position within kBlockBytes, but at least kMinBlockTiles where U is larger still.
template <typename T, int D>
int64_t block_tiles(int64_t width, int64_t C, int64_t K) {
  constexpr int64_t P = Depth<D>::positions;
  const int64_t fit = kBlockBytes / (P * width * int64_t(sizeof(T)));
  const int64_t least = P * C * K * int64_t(sizeof(T)) > kBlockBytes ? kMinBlockTiles : 6;
  return std::clamp<int64_t>(fit, least, 120);
}

// About `target` tiles per block, evened out over a multiple of the threads' count.
inline int64_t even_block(int64_t tiles, int64_t target) {
  const int64_t threads = at::get_num_threads();
  const int64_t blocks = std::max((tiles + target - 1) / target, std::min(threads, (tiles + 5) / 6));
  const int64_t even = (blocks + threads - 1) / threads * threads;
  return std::max<int64_t>(1, (tiles + even - 1) / even);
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

// A volume of D x H x W pixels of C channels, channels-last; reads outside it are zeros.
template <typename T>
struct Volume {
  T* data;
  int64_t D, H, W, C;
  T* at(int64_t d, int64_t h, int64_t w) const { return data + ((d * H + h) * W + w) * C; }
  bool inside(int64_t d, int64_t h, int64_t w) const {
    return d >= 0 && d < D && h >= 0 && h < H && w >= 0 && w < W;
  }
};

// V[pos][c] (positions `stride` apart) = B^T d B, along every transformed dim, of the
// input block at (d0, h0, w0) of `x`. A block inside x (most of them) is read without a
// bounds check per pixel: kInside, a separate copy of the loop.
template <typename T, int D, bool kInside>
void transform_input_block(const Volume<const T>& x, int64_t d0, int64_t h0, int64_t w0, T* V, int64_t stride) {
  using Vec = at::vec::Vectorized<T>;
  auto load = [&](int64_t d, int64_t h, int64_t w, int64_t c, int64_t len) C10_ALWAYS_INLINE_ATTRIBUTE {
    return load_or_zero(kInside || x.inside(d, h, w), x.at(d, h, w) + c, len);
  };
  for (int64_t c = 0; c < x.C; c += Vec::size()) {
    const int64_t len = std::min<int64_t>(Vec::size(), x.C - c);
    Vec v[Depth<D>::positions];
    for (int a = 0; a < Depth<D>::in; ++a) {
      Vec* d = v + a * kSlice;  // d[i * 4 + j]
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          d[i * 4 + j] = load(d0 + a, h0 + i, w0 + j, c, len);
        }
      }
      for (int j = 0; j < 4; ++j) input_1d(d[j], d[4 + j], d[8 + j], d[12 + j]);
      for (int i = 0; i < 4; ++i) input_1d(d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]);
    }
    if constexpr (D == 3) {
      for (int pos = 0; pos < kSlice; ++pos) input_1d(v[pos], v[kSlice + pos], v[2 * kSlice + pos], v[3 * kSlice + pos]);
    }
    for (int pos = 0; pos < Depth<D>::positions; ++pos) v[pos].store(V + pos * stride + c, len);
  }
}

template <typename T, int D>
void transform_input(const Volume<const T>& x, int64_t d0, int64_t h0, int64_t w0, T* V, int64_t stride) {
  if (x.inside(d0, h0, w0) && x.inside(d0 + Depth<D>::in - 1, h0 + 3, w0 + 3)) {
    return transform_input_block<T, D, true>(x, d0, h0, w0, V, stride);
  }
  transform_input_block<T, D, false>(x, d0, h0, w0, V, stride);
}

// The outputs A^T M A, along every transformed dim, of one tile (M[pos][k], positions
// `stride` apart) at (d0, h0, w0) of `y`, those inside it, with bias and act.
template <typename T, int D>
void transform_output(const T* M, int64_t stride, const Volume<T>& y, int64_t d0, int64_t h0, int64_t w0,
                      const T* bias, Activation act) {
  using Vec = at::vec::Vectorized<T>;
  for (int64_t k = 0; k < y.C; k += Vec::size()) {
    const int64_t len = std::min<int64_t>(Vec::size(), y.C - k);
    Vec m[Depth<D>::positions];
    for (int pos = 0; pos < Depth<D>::positions; ++pos) m[pos] = Vec::loadu(M + pos * stride + k, len);
    if constexpr (D == 3) {  // along depth: slices 0 and 1 of m become the output tile's two depths
      for (int pos = 0; pos < kSlice; ++pos) {
        const std::array<Vec, 2> r = output_1d(m[pos], m[kSlice + pos], m[2 * kSlice + pos], m[3 * kSlice + pos]);
        m[pos] = r[0], m[kSlice + pos] = r[1];
      }
    }
    for (int a = 0; a < Depth<D>::out && d0 + a < y.D; ++a) {
      const Vec* s = m + a * kSlice;
      std::array<Vec, 2> rows[4];  // rows[j] = A^T applied down column j
      for (int j = 0; j < 4; ++j) rows[j] = output_1d(s[j], s[4 + j], s[8 + j], s[12 + j]);
      for (int i = 0; i < 2 && h0 + i < y.H; ++i) {
        const std::array<Vec, 2> out = output_1d(rows[0][i], rows[1][i], rows[2][i], rows[3][i]);
        for (int j = 0; j < 2 && w0 + j < y.W; ++j) out[j].store(y.at(d0 + a, h0 + i, w0 + j) + k, len);
      }
    }
  }
  for (int a = 0; a < Depth<D>::out; ++a) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        if (y.inside(d0 + a, h0 + i, w0 + j)) bias_act::epilogue(1, y.C, y.at(d0 + a, h0 + i, w0 + j), y.C, bias, act);
      }
    }
  }
}

// A dy A^T, along every transformed dim, of the gradient tile at (d0, h0, w0) of `gy`
// (zeros outside it), into E[pos][k] (positions `stride` apart).
template <typename T, int D>
void transform_output_grad(const Volume<const T>& gy, int64_t d0, int64_t h0, int64_t w0, T* E, int64_t stride) {
  using Vec = at::vec::Vectorized<T>;
  for (int64_t k = 0; k < gy.C; k += Vec::size()) {
    const int64_t len = std::min<int64_t>(Vec::size(), gy.C - k);
    Vec e[Depth<D>::out][kSlice];
    for (int a = 0; a < Depth<D>::out; ++a) {
      Vec g[2][2];
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) g[i][j] = load_or_zero(gy.inside(d0 + a, h0 + i, w0 + j), gy.at(d0 + a, h0 + i, w0 + j) + k, len);
      }
      const std::array<Vec, 4> col0 = output_adjoint_1d(g[0][0], g[1][0]), col1 = output_adjoint_1d(g[0][1], g[1][1]);
      for (int i = 0; i < 4; ++i) {
        const std::array<Vec, 4> row = output_adjoint_1d(col0[i], col1[i]);
        for (int j = 0; j < 4; ++j) e[a][i * 4 + j] = row[j];
      }
    }
    for (int pos = 0; pos < kSlice; ++pos) {
      if constexpr (D == 3) {
        const std::array<Vec, 4> along_depth = output_adjoint_1d(e[0][pos], e[1][pos]);
        for (int a = 0; a < 4; ++a) along_depth[a].store(E + (a * kSlice + pos) * stride + k, len);
      } else {
        e[0][pos].store(E + pos * stride + k, len);
      }
    }
  }
}

// (g0, g1, g2) -> G g = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2), the weight transform along one dim.
template <typename V>
C10_ALWAYS_INLINE std::array<V, 4> weight_1d(const V& g0, const V& g1, const V& g2) {
  const V half(0.5), outer = g0 + g2;
  return {g0, half * (outer + g1), half * (outer - g1), g2};
}

// (u0, u1, u2, u3) -> G^T u = (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3), the adjoint of weight_1d.
template <typename V>
C10_ALWAYS_INLINE std::array<V, 3> weight_adjoint_1d(const V& u0, const V& u1, const V& u2, const V& u3) {
  const V half(0.5), middle = half * (u1 + u2);
  return {u0 + middle, half * (u1 - u2), middle + u3};
}

// u[pos] = G g G^T along every transformed dim, of filters g[tap] (taps in (t, r, q) order).
template <int D, typename V>
void weight_transform(const V* g, V* u) {
  V slices[Depth<D>::ker][kSlice];
  for (int t = 0; t < Depth<D>::ker; ++t) {
    std::array<V, 4> columns[3];  // columns[q] = G applied down column q
    for (int q = 0; q < 3; ++q) columns[q] = weight_1d(g[t * 9 + q], g[t * 9 + 3 + q], g[t * 9 + 6 + q]);
    for (int i = 0; i < 4; ++i) {
      const std::array<V, 4> row = weight_1d(columns[0][i], columns[1][i], columns[2][i]);
      for (int j = 0; j < 4; ++j) slices[t][i * 4 + j] = row[j];
    }
  }
  for (int pos = 0; pos < kSlice; ++pos) {
    if constexpr (D == 3) {
      const std::array<V, 4> along_depth = weight_1d(slices[0][pos], slices[1][pos], slices[2][pos]);
      for (int a = 0; a < 4; ++a) u[a * kSlice + pos] = along_depth[a];
    } else {
      u[pos] = slices[0][pos];
    }
  }
}

// g[tap] = G^T du G along every transformed dim: the adjoint of weight_transform.
template <int D, typename V>
void weight_transform_adjoint(const V* du, V* g) {
  V slices[Depth<D>::ker][kSlice];
  for (int pos = 0; pos < kSlice; ++pos) {
    if constexpr (D == 3) {
      const std::array<V, 3> along_depth =
          weight_adjoint_1d(du[pos], du[kSlice + pos], du[2 * kSlice + pos], du[3 * kSlice + pos]);
      for (int t = 0; t < 3; ++t) slices[t][pos] = along_depth[t];
    } else {
      slices[0][pos] = du[pos];
    }
  }
  for (int t = 0; t < Depth<D>::ker; ++t) {
    const V* s = slices[t];
    std::array<V, 3> columns[4];  // columns[j] = G^T applied down column j
    for (int j = 0; j < 4; ++j) columns[j] = weight_adjoint_1d(s[j], s[4 + j], s[8 + j], s[12 + j]);
    for (int r = 0; r < 3; ++r) {
      const std::array<V, 3> row = weight_adjoint_1d(columns[0][r], columns[1][r], columns[2][r], columns[3][r]);
      for (int q = 0; q < 3; ++q) g[t * 9 + r * 3 + q] = row[q];
    }
  }
}

// weight (K, C, ker) as U = G w G^T: one (C x K) matrix per position, written straight
// into the column panels gemm_panels reads (common/gemm.h), zero-padded to whole panels.
// The filters are vectorized along K: a vector's filters (each channel's taps, C * taps apart)
// are transposed into a buffer of taps vectors first. ATen's copy of the whole weight permuted
// to (C, taps, K) took 7% of the time of a 256-channel 3x3 layer's forward on an Intel Xeon.
template <typename T, int D>
std::vector<T> transform_weight(const at::Tensor& weight, int64_t K, int64_t C) {
  using Vec = at::vec::Vectorized<T>;
  constexpr int64_t NR = panel_width<T>(), V = Vec::size(), taps = Depth<D>::ker * 9, P = Depth<D>::positions;
  const at::Tensor filters = weight.reshape({K, C * taps}).contiguous();
  const T* w = filters.const_data_ptr<T>();
  const int64_t panel = (K + NR - 1) / NR * C * NR;  // one position's panels
  std::vector<T> U(P * panel, T(0));
  at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    Vec g[taps], u[P];
    T by_tap[taps * V];
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t k = 0; k < K; k += V) {  // never across a panel: NR is two vectors
        const int64_t len = std::min<int64_t>(V, K - k);
        at::vec::transpose_mxn<T>(w + (k * C + c) * taps, C * taps, by_tap, V, int(len), int(taps));
        for (int64_t tap = 0; tap < taps; ++tap) g[tap] = Vec::loadu(by_tap + tap * V, len);
        weight_transform<D>(g, u);
        for (int64_t pos = 0; pos < P; ++pos) u[pos].store(U.data() + pos * panel + k / NR * C * NR + c * NR + k % NR, len);
      }
    }
  });
  return U;
}

// Plane `plane` of a channels-last tensor with `size` pixels and `channels` channels per
// (n) for 3-D, per (n, d) for 2-D.
template <int D, typename T>
Volume<T> plane_of(T* data, const Dims& size, int64_t channels, int64_t plane) {
  const int64_t depth = D == 3 ? size[0] : 1;
  return {data + plane * depth * size[1] * size[2] * channels, depth, size[1], size[2], channels};
}

template <typename T, int D>
void forward_dims(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, Activation act, T* y) {
  constexpr int64_t P = Depth<D>::positions;
  const int64_t C = s.C, K = s.K;
  const std::vector<T> U = transform_weight<T, D>(weight, K, C);
  const int64_t panels = U.size() / P;
  const Tiles<D> tiles(s);
  const int64_t block = even_block(tiles.count(), block_tiles<T, D>(padded<T>(C) + padded<T>(K), C, K));
  at::parallel_for(0, (tiles.count() + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
    const int64_t ldv = padded<T>(C), ldm = padded<T>(K);
    std::vector<T> V(P * block * ldv), M(P * block * ldm);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t p0 = b * block, count = std::min(block, tiles.count() - p0);
      for (int64_t p = p0; p < p0 + count; ++p) {
        const auto [plane, d0, h0, w0] = tiles.origin(p);
        transform_input<T, D>(plane_of<D>(x, s.in, s.C, plane), d0 - (D == 3 ? s.pad[0] : 0), h0 - s.pad[1],
                              w0 - s.pad[2], V.data() + (p - p0) * ldv, block * ldv);
      }
      for (int64_t pos = 0; pos < P; ++pos) {
        gemm_panels(count, 0, K, C, V.data() + pos * block * ldv, ldv, 1, U.data() + pos * panels,
                    M.data() + pos * block * ldm, ldm, false);
      }
      for (int64_t p = p0; p < p0 + count; ++p) {
        const auto [plane, d0, h0, w0] = tiles.origin(p);
        transform_output<T, D>(M.data() + (p - p0) * ldm, block * ldm, plane_of<D>(y, s.out, K, plane), d0, h0, w0,
                               bias, act);
      }
    }
  });
}

// y (N, out, K) = act(conv(x (N, in, C), weight) + bias), both channels-last.
template <typename T>
void forward(const Shape& s, const T* x, const at::Tensor& weight, const T* bias, Activation act, T* y) {
  if (winograd_dims(s) == 3) return forward_dims<T, 3>(s, x, weight, bias, act, y);
  forward_dims<T, 2>(s, x, weight, bias, act, y);
}

// x_grad (N, in, C) = act(conv^T(y_grad (N, out, K), weight) + bias): the forward conv of
// y_grad by the weight transposed and flipped, with padding 2 - pad along the transformed dims.
template <typename T>
void input_grad(const Shape& s, const T* gy, const at::Tensor& weight, const T* bias, Activation act, T* gx) {
  Shape adjoint = s;
  adjoint.C = s.K, adjoint.K = s.C, adjoint.in = s.out, adjoint.out = s.in;
  adjoint.pad = {winograd_dims(s) == 3 ? 2 - s.pad[0] : 0, 2 - s.pad[1], 2 - s.pad[2]};
  std::vector<int64_t> taps(weight.dim() - 2);
  std::iota(taps.begin(), taps.end(), 2);
  forward(adjoint, gy, weight.transpose(0, 1).flip(taps), bias, act, gx);
}

// weight_grad (K, C, ker) = G^T dU G, dU[pos] (C x K) = sum over tiles of V[pos]^T E[pos]
// with V the input transform and E = A dy A^T. Where dU fits in L2, each thread sums its
// own blocks into its own copy of dU, added up at the end. Where it does not (wide layers),
// the threads share one dU and each block: its transforms are split by tiles, its GEMMs
// by (position, column panel), each adding into its own part of dU.
template <typename T, int D>
struct WeightGrad {
  static constexpr int64_t P = Depth<D>::positions, taps = Depth<D>::ker * 9, NR = panel_width<T>();
  const Shape& s;
  const T *x, *gy;
  const Tiles<D> tiles{s};
  const int64_t C = s.C, K = s.K, ldv = padded<T>(C), lde = padded<T>(K), panels = (K + NR - 1) / NR;

  // V and E of tiles [begin, end) of the block starting at tile p0, `block` tiles apart.
  void transform(int64_t p0, int64_t begin, int64_t end, int64_t block, T* V, T* E) const {
    for (int64_t p = begin; p < end; ++p) {
      const auto [plane, d0, h0, w0] = tiles.origin(p);
      transform_input<T, D>(plane_of<D>(x, s.in, C, plane), d0 - (D == 3 ? s.pad[0] : 0), h0 - s.pad[1],
                            w0 - s.pad[2], V + (p - p0) * ldv, block * ldv);
      transform_output_grad<T, D>(plane_of<D>(gy, s.out, K, plane), d0, h0, w0, E + (p - p0) * lde, block * lde);
    }
  }

  // dU[pos][:, panel] += V[pos]^T (C x count) . E[pos] (count x NR) for items [begin, end) of (pos, panel).
  void add_products(int64_t begin, int64_t end, int64_t count, int64_t block, const T* V, const T* E, T* dU) const {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t pos = item / panels, n0 = item % panels * NR;
      gemm(C, std::min(NR, K - n0), count, V + pos * block * ldv, 1, ldv, E + pos * block * lde + n0, lde,
           dU + pos * C * K + n0, K, true);
    }
  }

  // dU summed over the tiles: (copies, P, C, K), the copies to be added up.
  at::Tensor sums(const at::TensorOptions& options) const {
    const int64_t threads = at::get_num_threads(), per_thread = block_tiles<T, D>(ldv + lde, C, K);
    if (P * C * K * int64_t(sizeof(T)) <= kBlockBytes) {
      const at::Tensor dU = at::zeros({threads, P, C, K}, options);
      const int64_t block = even_block(tiles.count(), per_thread);
      at::parallel_for(0, (tiles.count() + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
        std::vector<T> V(P * block * ldv), E(P * block * lde);
        T* own = dU.data_ptr<T>() + at::get_thread_num() * P * C * K;
        for (int64_t b = begin; b < end; ++b) {
          const int64_t p0 = b * block, count = std::min(block, tiles.count() - p0);
          transform(p0, p0, p0 + count, block, V.data(), E.data());
          add_products(0, P * panels, count, block, V.data(), E.data(), own);
        }
      });
      return dU;
    }
    const at::Tensor dU = at::zeros({1, P, C, K}, options);
    const int64_t block = std::min(tiles.count(), per_thread * threads);
    std::vector<T> V(P * block * ldv), E(P * block * lde);
    for (int64_t p0 = 0; p0 < tiles.count(); p0 += block) {
      const int64_t count = std::min(block, tiles.count() - p0);
      at::parallel_for(p0, p0 + count, 1, [&](int64_t begin, int64_t end) {
        transform(p0, begin, end, block, V.data(), E.data());
      });
      at::parallel_for(0, P * panels, 1, [&](int64_t begin, int64_t end) {
        add_products(begin, end, count, block, V.data(), E.data(), dU.data_ptr<T>());
      });
    }
    return dU;
  }

  // gw = G^T dU G, vectorized along K into (C, taps, K), then laid out as the weight (K, C, taps).
  void run(T* gw) const {
    using Vec = at::vec::Vectorized<T>;
    const auto options = at::TensorOptions(c10::CppTypeToScalarType<T>::value);
    const at::Tensor dU = sums(options), grad = at::empty({C * taps, K}, options);
    at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      Vec du[P], g[taps];
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t k = 0; k < K; k += Vec::size()) {
          const int64_t len = std::min<int64_t>(Vec::size(), K - k);
          for (int64_t pos = 0; pos < P; ++pos) {
            du[pos] = Vec(T(0));
            for (int64_t copy = 0; copy < dU.size(0); ++copy) {
              du[pos] += Vec::loadu(dU.const_data_ptr<T>() + ((copy * P + pos) * C + c) * K + k, len);
            }
          }
          weight_transform_adjoint<D>(du, g);
          for (int64_t tap = 0; tap < taps; ++tap) g[tap].store(grad.data_ptr<T>() + (c * taps + tap) * K + k, len);
        }
      }
    });
    at::from_blob(gw, {K, C * taps}, options).copy_(grad.t());
  }
};

template <typename T>
void weight_grad(const Shape& s, const T* x, const T* gy, T* gw) {
  if (winograd_dims(s) == 3) return WeightGrad<T, 3>{s, x, gy}.run(gw);
  WeightGrad<T, 2>{s, x, gy}.run(gw);
}

}  // namespace winograd

// Whether this conv (and its gradients) runs Winograd's algorithm, as conv_algorithm says.
inline bool use_winograd(const Shape& s) {
  const int dims = winograd_dims(s);
  const Algorithm choice = algorithm().load();
  if (dims == 0 || choice == Algorithm::Direct) return false;
  const int64_t tiles = dims == 3 ? winograd::Tiles<3>(s).count() : winograd::Tiles<2>(s).count();
  return choice == Algorithm::Winograd || tiles >= kWinogradMinTiles;
}

// The forward of a 2-D conv with fewer channels than this on either side runs faster on the direct
// kernel, though its gradients still gain from Winograd's. Forward alone, channels-last, 2 threads
// on an AMD EPYC, (N, C, H, K): (8,16,64,16) 1.41 -> 1.22 ms direct, (16,16,32,16) 0.61 -> 0.48,
// (4,16,128,16) 2.36 -> 1.76, (8,16,64,32) 2.05 -> 1.83, (8,32,64,16) 1.75 -> 1.66; forward+backward
// at (8,16,64,16) 4.6 ms on Winograd, 5.2 on the direct kernels.
constexpr int64_t kWinogradForwardMinChannels = 32;

inline bool use_winograd_forward(const Shape& s) {
  const bool few_channels = winograd_dims(s) == 2 && std::min(s.C, s.K) < kWinogradForwardMinChannels;
  return use_winograd(s) && !(few_channels && algorithm().load() == Algorithm::Auto);
}

}  // namespace zoo::conv
