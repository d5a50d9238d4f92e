// CPU kernels of zoo::attention (FlashAttention-2 style): a tiled forward with an
// online softmax that never forms the Lq x Lk score matrix and stores the
// logsumexp, and a backward that recomputes the probabilities tile by tile.
// The tile products run on our register-blocked micro-GEMM over at::vec;
// at::parallel_for spreads (batch, key/value head, share of its query tiles) in
// the forward and (batch, key/value head) in the backward, where one thread owns
// every gradient it writes, so no atomics are needed. q, k, v, out and grad_out
// are read in place at any strides with a contiguous last dim (see Rows).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "attention/attention.h"
#include "common/gemm.h"
#include "common/huge_pages.h"
#include "common/vec_loops.h"

namespace zoo::attention {
namespace {

using at::vec::Vectorized;
using zoo::gemm;
using zoo::gemm_block;

constexpr int64_t kBlockQ = 64;  // query rows per tile
constexpr int64_t kBlockK = 128;  // keys per tile
// Up to this many query rows (decoding with a KV cache), the products with K and V
// (logits, P V, and in the backward dO V^T and dS K) read them in place, row by row:
// packing or transposing the whole cache would cost more than the few rows' products.
constexpr int64_t kDotRows = 8;

// dst (cols x rows) = src (rows x cols, row stride src_ld)^T, so a key tile can be the B of a GEMM.
template <typename T>
void transpose(int64_t rows, int64_t cols, const T* src, int64_t src_ld, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * src_ld + c];
}

// The decoding products below read K's and V's rows in place, kRowGroup at a time: as many
// independent FMA chains, where one would wait out each FMA's latency. They run at the speed
// of memory, so each group first asks for the rows kPrefetchRows ahead: the hardware
// prefetchers stop at every 4 KiB page, and a (16,32,1,4096,128) decode went from 102-119 to
// 75-106 ms on an AMD EPYC (Zen 3) with it.
constexpr int64_t kRowGroup = 4;
constexpr int64_t kPrefetchRows = 16;

// Calls f(std::integral_constant<int, N>{}, j) for rows [j, j + N) of [0, n): groups of
// kRowGroup rows, then the rows left one at a time.
template <typename F>
void for_row_groups(int64_t n, F f) {
  int64_t j = 0;
  for (; j + kRowGroup <= n; j += kRowGroup) f(std::integral_constant<int, kRowGroup>{}, j);
  for (; j < n; ++j) f(std::integral_constant<int, 1>{}, j);
}

// Asks for rows [0, n) of b (ldb apart, `width` long) to be brought into cache.
template <typename T>
void prefetch_rows(const T* b, int64_t n, int64_t ldb, int64_t width) {
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < width; d += kLine) __builtin_prefetch(b + j * ldb + d);
}

// c[j] = a . b_j over `depth` for the N rows b_j, ldb apart.
template <int N, typename T>
void dot_group(const T* a, const T* b, int64_t ldb, int64_t depth, T* c) {
  using Vec = Vectorized<T>;
  prefetch_rows(b + kPrefetchRows * ldb, N, ldb, depth);  // past the end too: a prefetch never faults
  Vec sum[N];
  for (int j = 0; j < N; ++j) sum[j] = Vec(T(0));
  zoo::for_vectors<T>(0, depth, [&](int64_t d, int64_t n) {
    const Vec x = Vec::loadu(a + d, n);
    for (int j = 0; j < N; ++j) sum[j] = at::vec::fmadd(x, Vec::loadu(b + j * ldb + d, n), sum[j]);
  });
  for (int j = 0; j < N; ++j) c[j] = at::vec::vec_reduce_all<T>([](Vec& x, Vec& y) { return x + y; }, sum[j]);
}

// C (rows x cols, contiguous) = A B^T over `depth`, A's and B's rows lda and ldb apart.
template <typename T>
void dot_products(int64_t rows, int64_t cols, int64_t depth, const T* A, int64_t lda, const T* B, int64_t ldb, T* C) {
  for (int64_t i = 0; i < rows; ++i) {
    for_row_groups(cols, [&](auto group, int64_t j) {
      dot_group<decltype(group)::value>(A + i * lda, B + j * ldb, ldb, depth, C + i * cols + j);
    });
  }
}

// acc += sum_j p[j] b_j over `width` for the N rows b_j, ldb apart.
template <int N, typename T>
void add_scaled_rows(const T* p, const T* b, int64_t ldb, int64_t width, T* acc) {
  using Vec = Vectorized<T>;
  prefetch_rows(b + kPrefetchRows * ldb, N, ldb, width);
  zoo::for_vectors<T>(0, width, [&](int64_t d, int64_t n) {
    Vec sum = Vec::loadu(acc + d, n);
    for (int j = 0; j < N; ++j) sum = at::vec::fmadd(Vec(p[j]), Vec::loadu(b + j * ldb + d, n), sum);
    sum.store(acc + d, n);
  });
}

// C (rows x cols, contiguous) += A (rows x depth, contiguous) B (depth x cols, rows ldb apart), B's
// rows read in order: for a few rows of A, where a GEMM tile would wait on one FMA chain per column block.
template <typename T>
void add_row_products(int64_t rows, int64_t cols, int64_t depth, const T* A, const T* B, int64_t ldb, T* C) {
  for (int64_t i = 0; i < rows; ++i) {
    for_row_groups(depth, [&](auto group, int64_t j) {
      add_scaled_rows<decltype(group)::value>(A + i * depth + j, B + j * ldb, ldb, cols, C + i * cols);
    });
  }
}

// Strided view of the expanded (B, Hq, Lq, Lk) mask.
struct Mask {
  const void* data = nullptr;
  bool is_bool = false;
  int64_t sb = 0, sh = 0, si = 0, sj = 0;

  static Mask of(const std::optional<at::Tensor>& mask) {
    Mask m;
    if (mask.has_value()) {
      m.data = mask->const_data_ptr();
      m.is_bool = mask->scalar_type() == at::kBool;
      m.sb = mask->stride(0), m.sh = mask->stride(1), m.si = mask->stride(2), m.sj = mask->stride(3);
    }
    return m;
  }
};

// Turns one tile row of raw scores q.k into scaled, masked logits (-inf where not attended).
template <typename T>
void logits_row(T* row, int64_t bk, T scale, const Mask& mask, int64_t b, int64_t h, int64_t i, int64_t j0,
                bool causal) {
  using Vec = Vectorized<T>;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  if (scale != T(1)) at::vec::map([scale](Vec x) { return x * Vec(scale); }, row, row, bk);
  if (mask.data != nullptr) {
    const int64_t base = b * mask.sb + h * mask.sh + i * mask.si + j0 * mask.sj;
    if (mask.is_bool) {
      const bool* m = static_cast<const bool*>(mask.data) + base;
      for (int64_t j = 0; j < bk; ++j) row[j] = m[j * mask.sj] ? row[j] : kNegInf;
    } else {
      const T* m = static_cast<const T*>(mask.data) + base;
      for (int64_t j = 0; j < bk; ++j) row[j] += m[j * mask.sj];
    }
  }
  if (causal) {
    for (int64_t j = std::max<int64_t>(0, i - j0 + 1); j < bk; ++j) row[j] = kNegInf;  // keys after query i
  }
}

// The online softmax keeps each row's reference max where it is while the row's logits stay
// below it + kRescaleAbove, so most key tiles skip the reduction to the tile's max, the
// exponential of the old-to-new ratio and the rescaling of the accumulator (FlashAttention-4's
// conditional rescaling). Each exp is then at most e^8 ~ 3e3, and a row's sum of them stays far
// from overflow for any key count a tensor can hold.
template <typename T>
constexpr T kRescaleAbove = T(8);

// Whether some row[j], j < n, exceeds bound: a vector max and one compare, no horizontal reduction.
template <typename T>
bool any_above(const T* row, int64_t n, T bound) {
  using Vec = Vectorized<T>;
  constexpr int64_t V = Vec::size();
  const Vec below(-std::numeric_limits<T>::infinity());
  Vec top = below;
  int64_t j = 0;
  for (; j + V <= n; j += V) top = at::vec::clamp_min(Vec::loadu(row + j), top);  // max, no NaN checks
  if (j < n) top = at::vec::clamp_min(Vec::set(below, Vec::loadu(row + j, n - j), n - j), top);
  return (top > Vec(bound)).zero_mask() != (1 << V) - 1;  // a lane of the compare is nonzero
}

// row[j] = exp(row[j] - max) for j < n, in one pass, returning their sum by lanes: the caller
// adds the lanes up once per row, not once per key tile.
template <typename T>
Vectorized<T> exp_and_sum(T* row, int64_t n, T max) {
  using Vec = Vectorized<T>;
  constexpr int64_t V = Vec::size();
  Vec sum(T(0));
  int64_t j = 0;
  for (; j + V <= n; j += V) {
    const Vec e = (Vec::loadu(row + j) - Vec(max)).exp_u20();
    e.store(row + j);
    sum = sum + e;
  }
  if (j < n) {  // the lanes past n must add nothing
    const Vec e = Vec::set(Vec(T(0)), (Vec::loadu(row + j, n - j) - Vec(max)).exp_u20(), n - j);
    e.store(row + j, n - j);
    sum = sum + e;
  }
  return sum;
}

// A (B, H, L, E) tensor read or written in place: E contiguous, the other dims at any
// stride, so q, k and v can be views into one fused qkv projection and the output
// can be laid out (B, L, H, E), ready for the output projection, with no copies.
template <typename T>
struct Rows {
  T* data;
  int64_t sb, sh, sl;
  T* at(int64_t b, int64_t h, int64_t i) const { return data + b * sb + h * sh + i * sl; }
};

template <typename T>
Rows<T> rows_of(const at::Tensor& t) {
  T* data;
  if constexpr (std::is_const_v<T>) data = t.const_data_ptr<std::remove_const_t<T>>();
  else data = t.mutable_data_ptr<T>();
  return {data, t.stride(0), t.stride(1), t.stride(2)};
}

// t itself if its last dim is contiguous (all Rows needs), else a contiguous copy.
at::Tensor with_contiguous_rows(const at::Tensor& t) {
  return t.size(-1) <= 1 || t.stride(-1) == 1 ? t : t.contiguous();
}

// One key/value head as the forward's tile products read it. Packed (the default):
// K^T and V as GEMM panels, so each key tile is a unit-stride B operand whatever the
// rows' stride (a power of two would map a tile's rows to a few L1 sets); a thread
// owns one and reuses it across heads, since a buffer for every head would be a fresh,
// page-faulting allocation per call. In place (decoding): K and V read where they are.
template <typename T>
class KeyValueHead {
 public:
  static constexpr int64_t NR = zoo::panel_width<T>();
  static_assert(kBlockK % NR == 0, "a key tile must be whole panels");

  KeyValueHead(const Shape& s, Rows<const T> k, Rows<const T> v, bool in_place)
      : s_(s), k_(k), v_(v), in_place_(in_place), key_panels_((s.Lk + NR - 1) / NR),
        value_panels_((s.Dv + NR - 1) / NR), k_size_(key_panels_ * s.D * NR),
        packed_(new T[in_place ? 0 : k_size_ + value_panels_ * s.Lk * NR]) {}  // all written by pack_panel

  // Makes (b, hk) the head read; packs it unless it is that head already or read in place.
  void select(int64_t b, int64_t hk) {
    if (b == b_ && hk == hk_) return;
    b_ = b, hk_ = hk;
    if (in_place_) return;
    for (int64_t p = 0; p < key_panels_; ++p) zoo::pack_panel(p, s_.D, s_.Lk, k_.at(b, hk, 0), 1, k_.sl, key_panel(p));
    for (int64_t p = 0; p < value_panels_; ++p) {
      zoo::pack_panel(p, s_.Lk, s_.Dv, v_.at(b, hk, 0), v_.sl, 1, value_panel(p));
    }
  }

  // S (rows x bk, contiguous) = Q K^T over keys [j0, j0 + bk); Q is rows x D, contiguous.
  void logits(int64_t rows, int64_t j0, int64_t bk, const T* Q, T* S) const {
    if (in_place_) return dot_products(rows, bk, s_.D, Q, s_.D, k_.at(b_, hk_, j0), k_.sl, S);
    for (int64_t n = 0; n < bk; n += NR) {
      gemm_block<T>(rows, std::min(NR, bk - n), s_.D, Q, s_.D, 1, key_panel((j0 + n) / NR), NR, S + n, bk, false);
    }
  }

  // acc (rows x Dv, contiguous) += P V over keys [j0, j0 + bk); P is rows x bk, contiguous.
  void add_values(int64_t rows, int64_t j0, int64_t bk, const T* P, T* acc) const {
    if (in_place_) return add_row_products(rows, s_.Dv, bk, P, v_.at(b_, hk_, j0), v_.sl, acc);
    for (int64_t p = 0; p < value_panels_; ++p) {
      gemm_block<T>(rows, std::min(NR, s_.Dv - p * NR), bk, P, bk, 1, value_panel(p) + j0 * NR, NR, acc + p * NR,
                    s_.Dv, true);
    }
  }

 private:
  T* key_panel(int64_t p) const { return packed_.get() + p * s_.D * NR; }
  T* value_panel(int64_t p) const { return packed_.get() + k_size_ + p * s_.Lk * NR; }

  const Shape& s_;
  Rows<const T> k_, v_;
  bool in_place_;
  int64_t key_panels_, value_panels_, k_size_;
  std::unique_ptr<T[]> packed_;
  int64_t b_ = -1, hk_ = -1;
};

// A thread's scratch for one query tile: the scaled queries, a tile of logits, the
// output accumulator, and the online softmax's reference max and sum (by vector lanes) per row.
template <typename T>
struct QueryTile {
  static constexpr int64_t V = Vectorized<T>::size();
  std::vector<T> Q, S, acc, m, l;
  explicit QueryTile(const Shape& s)
      : Q(kBlockQ * s.D), S(kBlockQ * kBlockK), acc(kBlockQ * s.Dv), m(kBlockQ), l(kBlockQ * V) {}
  T* l_lanes(int64_t i) { return l.data() + i * V; }
};

// Rows [i0, i0 + kBlockQ) of query head h of batch b: out and lse, by an online softmax over key tiles.
template <typename T>
void attend_query_tile(const Shape& s, Rows<const T> q, const KeyValueHead<T>& kv, const Mask& mask, bool causal,
                       T scale, int64_t b, int64_t h, int64_t i0, QueryTile<T>& t, Rows<T> out, T* lse) {
  using Vec = Vectorized<T>;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t bq = std::min(kBlockQ, s.Lq - i0);
  // The query tile with the softmax scale folded in, so logits need no extra pass.
  for (int64_t i = 0; i < bq; ++i) {
    at::vec::map([scale](Vec x) { return x * Vec(scale); }, t.Q.data() + i * s.D, q.at(b, h, i0 + i), s.D);
  }
  std::fill(t.m.begin(), t.m.end(), kNegInf);
  std::fill(t.l.begin(), t.l.end(), T(0));
  std::fill(t.acc.begin(), t.acc.end(), T(0));
  const int64_t k_end = causal ? std::min(s.Lk, i0 + bq) : s.Lk;
  for (int64_t j0 = 0; j0 < k_end; j0 += kBlockK) {
    const int64_t bk = std::min(kBlockK, k_end - j0);
    kv.logits(bq, j0, bk, t.Q.data(), t.S.data());
    for (int64_t i = 0; i < bq; ++i) {
      T* row = t.S.data() + i * bk;
      logits_row(row, bk, T(1), mask, b, h, i0 + i, j0, causal);
      if (t.m[i] == kNegInf || any_above(row, bk, t.m[i] + kRescaleAbove<T>)) {  // move the reference max
        const T tile_max = at::vec::reduce_all<T>([](Vec& x, Vec& y) { return at::vec::maximum(x, y); }, row, bk);
        const T m_new = std::max(t.m[i], tile_max);
        if (m_new == kNegInf) {  // every key so far is masked for this row
          std::fill(row, row + bk, T(0));
          continue;
        }
        if (t.m[i] != kNegInf) {  // else l and acc are still 0
          const T alpha = std::exp(t.m[i] - m_new);
          (Vec::loadu(t.l_lanes(i)) * Vec(alpha)).store(t.l_lanes(i));
          T* acc_row = t.acc.data() + i * s.Dv;
          at::vec::map([alpha](Vec x) { return x * Vec(alpha); }, acc_row, acc_row, s.Dv);
        }
        t.m[i] = m_new;
      }
      (Vec::loadu(t.l_lanes(i)) + exp_and_sum(row, bk, t.m[i])).store(t.l_lanes(i));
    }
    kv.add_values(bq, j0, bk, t.S.data(), t.acc.data());
  }
  T* L = lse + (b * s.Hq + h) * s.Lq + i0;
  for (int64_t i = 0; i < bq; ++i) {
    const T l = at::vec::vec_reduce_all<T>([](Vec& x, Vec& y) { return x + y; }, Vec::loadu(t.l_lanes(i)));
    const T inv = l > T(0) ? T(1) / l : T(0);
    at::vec::map([inv](Vec x) { return x * Vec(inv); }, out.at(b, h, i0 + i), t.acc.data() + i * s.Dv, s.Dv);
    L[i] = l > T(0) ? t.m[i] + std::log(l) : kNegInf;
  }
}

template <typename T>
void forward_kernel(const Shape& s, Rows<const T> q, Rows<const T> k, Rows<const T> v, const Mask& mask, bool causal,
                    T scale, Rows<T> out, T* lse) {
  // Work items: a key/value head and a share of its query heads' tiles (all of them, unless
  // there are too few heads to keep every thread busy).
  const int64_t n_qtiles = (s.Lq + kBlockQ - 1) / kBlockQ, tiles = s.group() * n_qtiles;
  const int64_t shares = std::clamp<int64_t>(4 * at::get_num_threads() / std::max<int64_t>(s.B * s.Hkv, 1), 1,
                                             std::max<int64_t>(tiles, 1));
  const int64_t per_share = (tiles + shares - 1) / shares;
  at::parallel_for(0, s.B * s.Hkv * shares, 1, [&](int64_t begin, int64_t end) {
    KeyValueHead<T> kv(s, k, v, /*in_place=*/s.Lq <= kDotRows);
    QueryTile<T> tile(s);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / shares / s.Hkv, hk = item / shares % s.Hkv, share = item % shares;
      kv.select(b, hk);
      for (int64_t t = share * per_share; t < std::min(tiles, (share + 1) * per_share); ++t) {
        attend_query_tile(s, q, kv, mask, causal, scale, b, hk * s.group() + t / n_qtiles, (t % n_qtiles) * kBlockQ,
                          tile, out, lse);
      }
    }
  });
}

template <typename T>
void backward_kernel(const Shape& s, Rows<const T> q, Rows<const T> k, Rows<const T> v, const Mask& mask, bool causal,
                     T scale, Rows<const T> out, Rows<const T> dout, const T* lse, T* dq, T* dk, T* dv) {
  using Vec = Vectorized<T>;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t G = s.group();
  const bool dot_logits = s.Lq <= kDotRows;
  at::parallel_for(0, s.B * s.Hkv, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> P(kBlockQ * kBlockK), dP(kBlockQ * kBlockK), KT(s.D * kBlockK), VT(s.Dv * kBlockK);
    std::vector<T> dKb(kBlockK * s.D), dVb(kBlockK * s.Dv), Di(G * s.Lq);
    for (int64_t w = begin; w < end; ++w) {
      const int64_t b = w / s.Hkv, hk = w % s.Hkv;
      // Di = rowsum(dO * O): the softmax backward's correction term, once per query row.
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t i = 0; i < s.Lq; ++i) {
          Di[g * s.Lq + i] = at::vec::map2_reduce_all<T>(
              [](Vec x, Vec y) { return x * y; }, [](Vec x, Vec y) { return x + y; },
              dout.at(b, hk * G + g, i), out.at(b, hk * G + g, i), s.Dv);
        }
      }
      for (int64_t j0 = 0; j0 < s.Lk; j0 += kBlockK) {
        const int64_t bk = std::min(kBlockK, s.Lk - j0);
        if (!dot_logits) {
          transpose(bk, s.D, k.at(b, hk, j0), k.sl, KT.data());
          transpose(bk, s.Dv, v.at(b, hk, j0), v.sl, VT.data());
        }
        std::fill(dKb.begin(), dKb.end(), T(0));
        std::fill(dVb.begin(), dVb.end(), T(0));
        const int64_t i_start = causal ? (j0 / kBlockQ) * kBlockQ : 0;  // earlier rows see none of these keys
        for (int64_t g = 0; g < G; ++g) {
          const int64_t h = hk * G + g, head = b * s.Hq + h;
          for (int64_t i0 = i_start; i0 < s.Lq; i0 += kBlockQ) {
            const int64_t bq = std::min(kBlockQ, s.Lq - i0);
            const T* Q = q.at(b, h, i0);
            const T* dO = dout.at(b, h, i0);
            const T* L = lse + head * s.Lq + i0;
            if (dot_logits) {
              dot_products(bq, bk, s.D, Q, q.sl, k.at(b, hk, j0), k.sl, P.data());
            } else {
              gemm<T>(bq, bk, s.D, Q, q.sl, 1, KT.data(), bk, P.data(), bk, false);
            }
            for (int64_t i = 0; i < bq; ++i) {
              T* row = P.data() + i * bk;
              if (L[i] == kNegInf) {  // a fully masked row has no gradient
                std::fill(row, row + bk, T(0));
                continue;
              }
              logits_row(row, bk, scale, mask, b, h, i0 + i, j0, causal);
              const T li = L[i];
              at::vec::map([li](Vec x) { return (x - Vec(li)).exp_u20(); }, row, row, bk);
            }
            gemm<T>(bk, s.Dv, bq, P.data(), 1, bk, dO, dout.sl, dVb.data(), s.Dv, true);  // dV += P^T dO
            if (dot_logits) {  // dP = dO V^T
              dot_products(bq, bk, s.Dv, dO, dout.sl, v.at(b, hk, j0), v.sl, dP.data());
            } else {
              gemm<T>(bq, bk, s.Dv, dO, dout.sl, 1, VT.data(), bk, dP.data(), bk, false);
            }
            for (int64_t i = 0; i < bq; ++i) {  // dS = P * (dP - Di), with the softmax scale folded in
              const T d = Di[g * s.Lq + i0 + i];
              at::vec::map2([d, scale](Vec p, Vec dp) { return p * (dp - Vec(d)) * Vec(scale); },
                            dP.data() + i * bk, P.data() + i * bk, dP.data() + i * bk, bk);
            }
            T* dQ = dq + (head * s.Lq + i0) * s.D;  // dQ += dS K
            if (dot_logits) {
              add_row_products(bq, s.D, bk, dP.data(), k.at(b, hk, j0), k.sl, dQ);
            } else {
              gemm<T>(bq, s.D, bk, dP.data(), bk, 1, k.at(b, hk, j0), k.sl, dQ, s.D, true);
            }
            gemm<T>(bk, s.D, bq, dP.data(), 1, bk, Q, q.sl, dKb.data(), s.D, true);  // dK += dS^T Q
          }
        }
        std::copy(dKb.begin(), dKb.begin() + bk * s.D, dk + ((b * s.Hkv + hk) * s.Lk + j0) * s.D);
        std::copy(dVb.begin(), dVb.begin() + bk * s.Dv, dv + ((b * s.Hkv + hk) * s.Lk + j0) * s.Dv);
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> attention_forward_cpu(const at::Tensor& q, const at::Tensor& k,
                                                         const at::Tensor& v, const std::optional<at::Tensor>& mask,
                                                         bool is_causal, double scale) {
  const Shape s = check_args(q, k, v, mask);
  check_cpu_dtype("attention", "query", q);
  // out is laid out (B, Lq, Hq, Dv), as PyTorch's CPU flash attention lays out its
  // own: merging the heads for the output projection is then a free view.
  at::Tensor out = zoo::empty_output({s.B, s.Lq, s.Hq, s.Dv}, q.options()).transpose(1, 2);
  at::Tensor lse = at::empty({s.B, s.Hq, s.Lq}, q.options());
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention_forward_cpu", [&] {
    forward_kernel<scalar_t>(s, rows_of<const scalar_t>(with_contiguous_rows(q)),
                             rows_of<const scalar_t>(with_contiguous_rows(k)),
                             rows_of<const scalar_t>(with_contiguous_rows(v)), Mask::of(mask), is_causal,
                             scalar_t(scale), rows_of<scalar_t>(out), lse.mutable_data_ptr<scalar_t>());
  });
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const std::optional<at::Tensor>& mask, const at::Tensor& out, const at::Tensor& lse, bool is_causal,
    double scale) {
  const Shape s = check_args(q, k, v, mask);
  check_backward_args(grad_out, out, lse, s);
  check_cpu_dtype("attention", "query", q);
  // the gradients are contiguous, as the fake kernel says
  at::Tensor dq = zoo::empty_output(q.sizes(), q.options()).zero_(), dk = zoo::empty_output(k.sizes(), k.options());
  at::Tensor dv = zoo::empty_output(v.sizes(), v.options());
  const at::Tensor lc = lse.contiguous();
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention_backward_cpu", [&] {
    backward_kernel<scalar_t>(s, rows_of<const scalar_t>(with_contiguous_rows(q)),
                              rows_of<const scalar_t>(with_contiguous_rows(k)),
                              rows_of<const scalar_t>(with_contiguous_rows(v)), Mask::of(mask), is_causal,
                              scalar_t(scale), rows_of<const scalar_t>(with_contiguous_rows(out)),
                              rows_of<const scalar_t>(with_contiguous_rows(grad_out)), lc.const_data_ptr<scalar_t>(),
                              dq.mutable_data_ptr<scalar_t>(), dk.mutable_data_ptr<scalar_t>(),
                              dv.mutable_data_ptr<scalar_t>());
  });
  return {dq, dk, dv};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("attention_forward", &attention_forward_cpu);
  m.impl("attention_backward", &attention_backward_cpu);
}

}  // namespace zoo::attention
