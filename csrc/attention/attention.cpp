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

namespace zoo::attention {
namespace {

using at::vec::Vectorized;
using zoo::gemm;
using zoo::gemm_block;

constexpr int64_t kBlockQ = 64;  // query rows per tile
constexpr int64_t kBlockK = 128;  // keys per tile
// Up to this many query rows (decoding with a KV cache), logits (and in the backward
// dO V^T) are dot products read straight from K and V: packing or transposing the
// whole cache would cost more than the few rows' products.
constexpr int64_t kDotRows = 8;

// dst (cols x rows) = src (rows x cols, row stride src_ld)^T, so a key tile can be the B of a GEMM.
template <typename T>
void transpose(int64_t rows, int64_t cols, const T* src, int64_t src_ld, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * src_ld + c];
}

// C (rows x cols, contiguous) = A B^T over `depth`, A's and B's rows lda and ldb apart.
template <typename T>
void dot_products(int64_t rows, int64_t cols, int64_t depth, const T* A, int64_t lda, const T* B, int64_t ldb, T* C) {
  using Vec = Vectorized<T>;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      C[i * cols + j] = at::vec::map2_reduce_all<T>([](Vec x, Vec y) { return x * y; },
                                                    [](Vec x, Vec y) { return x + y; }, A + i * lda, B + j * ldb, depth);
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
at::Tensor with_contiguous_rows(const at::Tensor& t) { return t.size(-1) <= 1 || t.stride(-1) == 1 ? t : t.contiguous(); }

template <typename T>
void forward_kernel(const Shape& s, Rows<const T> q, Rows<const T> k, Rows<const T> v, const Mask& mask, bool causal,
                    T scale, Rows<T> out, T* lse) {
  using Vec = Vectorized<T>;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  constexpr int64_t NR = zoo::panel_width<T>();
  static_assert(kBlockK % NR == 0, "a key tile must be whole panels");
  // A thread packs the K^T and V of the head it works on as GEMM panels, so each key
  // tile is a ready, unit-stride B operand for every query tile whatever the rows'
  // stride (a power of two would map a tile's rows to a few L1 sets). The buffer is
  // the thread's own and reused: one for every head would be a fresh, page-faulting
  // allocation per call. Decoding reads K and V in place instead.
  const bool dot_logits = s.Lq <= kDotRows;
  const int64_t key_panels = (s.Lk + NR - 1) / NR, value_panels = (s.Dv + NR - 1) / NR;
  const int64_t k_size = key_panels * s.D * NR, v_size = value_panels * s.Lk * NR;
  // Work items: a key/value head and a share of its query tiles (all its query heads' tiles, unless
  // there are too few heads to keep every thread busy).
  const int64_t n_qtiles = (s.Lq + kBlockQ - 1) / kBlockQ, tiles = s.group() * n_qtiles;
  const int64_t shares = std::clamp<int64_t>(4 * at::get_num_threads() / std::max<int64_t>(s.B * s.Hkv, 1), 1,
                                             std::max<int64_t>(tiles, 1));
  const int64_t per_share = (tiles + shares - 1) / shares;
  at::parallel_for(0, s.B * s.Hkv * shares, 1, [&](int64_t begin, int64_t end) {
    std::unique_ptr<T[]> packed(new T[dot_logits ? 0 : k_size + v_size]);  // all written by pack_panel
    T* const Kp = packed.get();
    T* const Vp = Kp + k_size;
    std::vector<T> Qs(kBlockQ * s.D), S(kBlockQ * kBlockK), acc(kBlockQ * s.Dv), m(kBlockQ), l(kBlockQ);
    int64_t packed_head = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t head = item / shares, b = head / s.Hkv, hk = head % s.Hkv;
      if (!dot_logits && head != packed_head) {  // a thread's consecutive shares of one head pack it once
        for (int64_t p = 0; p < key_panels; ++p) {
          zoo::pack_panel(p, s.D, s.Lk, k.at(b, hk, 0), 1, k.sl, Kp + p * s.D * NR);
        }
        for (int64_t p = 0; p < value_panels; ++p) {
          zoo::pack_panel(p, s.Lk, s.Dv, v.at(b, hk, 0), v.sl, 1, Vp + p * s.Lk * NR);
        }
        packed_head = head;
      }
      const int64_t t1 = std::min(tiles, (item % shares + 1) * per_share);
      for (int64_t t = (item % shares) * per_share; t < t1; ++t) {
        const int64_t h = hk * s.group() + t / n_qtiles, i0 = (t % n_qtiles) * kBlockQ;
        const int64_t bq = std::min(kBlockQ, s.Lq - i0);
        // The query tile with the softmax scale folded in, so logits need no extra pass.
        for (int64_t i = 0; i < bq; ++i) {
          at::vec::map([scale](Vec x) { return x * Vec(scale); }, Qs.data() + i * s.D, q.at(b, h, i0 + i), s.D);
        }
        std::fill(m.begin(), m.end(), kNegInf);
        std::fill(l.begin(), l.end(), T(0));
        std::fill(acc.begin(), acc.end(), T(0));
        const int64_t k_end = causal ? std::min(s.Lk, i0 + bq) : s.Lk;
        for (int64_t j0 = 0; j0 < k_end; j0 += kBlockK) {
          const int64_t bk = std::min(kBlockK, k_end - j0);
          if (dot_logits) {
            dot_products(bq, bk, s.D, Qs.data(), s.D, k.at(b, hk, j0), k.sl, S.data());
          } else {
            for (int64_t n = 0; n < bk; n += NR) {  // S = Q K^T, a key panel at a time
              gemm_block<T>(bq, std::min(NR, bk - n), s.D, Qs.data(), s.D, 1, Kp + (j0 + n) * s.D, NR, S.data() + n,
                            bk, false);
            }
          }
          for (int64_t i = 0; i < bq; ++i) {
            T* row = S.data() + i * bk;
            logits_row(row, bk, T(1), mask, b, h, i0 + i, j0, causal);
            const T tile_max = at::vec::reduce_all<T>([](Vec& x, Vec& y) { return at::vec::maximum(x, y); }, row, bk);
            const T m_new = std::max(m[i], tile_max);
            if (m_new == kNegInf) {  // every key so far is masked for this row
              std::fill(row, row + bk, T(0));
              continue;
            }
            at::vec::map([m_new](Vec x) { return (x - Vec(m_new)).exp_u20(); }, row, row, bk);
            const T alpha = std::exp(m[i] - m_new);  // 0 when m[i] is -inf
            l[i] = l[i] * alpha + at::vec::reduce_all<T>([](Vec& x, Vec& y) { return x + y; }, row, bk);
            T* acc_row = acc.data() + i * s.Dv;
            at::vec::map([alpha](Vec x) { return x * Vec(alpha); }, acc_row, acc_row, s.Dv);
            m[i] = m_new;
          }
          if (dot_logits) {
            gemm<T>(bq, s.Dv, bk, S.data(), bk, 1, v.at(b, hk, j0), v.sl, acc.data(), s.Dv, true);
          } else {
            for (int64_t p = 0; p < value_panels; ++p) {  // acc += P V, a value panel at a time
              gemm_block<T>(bq, std::min(NR, s.Dv - p * NR), bk, S.data(), bk, 1, Vp + (p * s.Lk + j0) * NR, NR,
                            acc.data() + p * NR, s.Dv, true);
            }
          }
        }
        T* L = lse + (b * s.Hq + h) * s.Lq + i0;
        for (int64_t i = 0; i < bq; ++i) {
          const T inv = l[i] > T(0) ? T(1) / l[i] : T(0);
          at::vec::map([inv](Vec x) { return x * Vec(inv); }, out.at(b, h, i0 + i), acc.data() + i * s.Dv, s.Dv);
          L[i] = l[i] > T(0) ? m[i] + std::log(l[i]) : kNegInf;
        }
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
            gemm<T>(bq, s.D, bk, dP.data(), bk, 1, k.at(b, hk, j0), k.sl, dq + (head * s.Lq + i0) * s.D, s.D, true);
            gemm<T>(bk, s.D, bq, dP.data(), 1, bk, Q, q.sl, dKb.data(), s.D, true);  // dK += dS^T Q
          }
        }
        std::copy(dKb.begin(), dKb.begin() + bk * s.D, dk + ((b * s.Hkv + hk) * s.Lk + j0) * s.D);
        std::copy(dVb.begin(), dVb.begin() + bk * s.Dv, dv + ((b * s.Hkv + hk) * s.Lk + j0) * s.Dv);
      }
    }
  });
}

void check_cpu_dtype(const at::Tensor& q) {
  ZOO_CHECK_ARG(q.scalar_type() == at::kFloat || q.scalar_type() == at::kDouble, "attention", "query",
                "must be float32 or float64 for the CPU kernel, got ", q.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> attention_forward_cpu(const at::Tensor& q, const at::Tensor& k,
                                                         const at::Tensor& v, const std::optional<at::Tensor>& mask,
                                                         bool is_causal, double scale) {
  const Shape s = check_args(q, k, v, mask);
  check_cpu_dtype(q);
  // out is laid out (B, Lq, Hq, Dv), as PyTorch's CPU flash attention lays out its
  // own: merging the heads for the output projection is then a free view.
  at::Tensor out = at::empty({s.B, s.Lq, s.Hq, s.Dv}, q.options()).transpose(1, 2);
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
  check_cpu_dtype(q);
  // the gradients are contiguous, as the fake kernel says
  at::Tensor dq = at::zeros(q.sizes(), q.options()), dk = at::empty(k.sizes(), k.options());
  at::Tensor dv = at::empty(v.sizes(), v.options());
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
