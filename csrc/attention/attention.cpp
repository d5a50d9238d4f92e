// CPU kernels of zoo::attention (FlashAttention-2 style): a tiled forward with an
// online softmax that never forms the Lq x Lk score matrix and stores the
// logsumexp, and a backward that recomputes the probabilities tile by tile.
// The tile products run on our register-blocked micro-GEMM over at::vec;
// at::parallel_for spreads (batch, head, query tile) in the forward and
// (batch, key/value head) in the backward, where one thread owns every
// gradient it writes, so no atomics are needed.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/attention.h"
#include "common/gemm.h"

namespace zoo::attention {
namespace {

using at::vec::Vectorized;
using zoo::gemm;

constexpr int64_t kBlockQ = 64;  // query rows per tile
constexpr int64_t kBlockK = 128;  // keys per tile
// Up to this many query rows (decoding with a KV cache), logits are dot products
// read straight from K: transposing the whole cache would cost more than the rows.
constexpr int64_t kDotRows = 8;

// dst (cols x rows) = src (rows x cols, row stride src_ld)^T, so a key tile can be the B of a GEMM.
template <typename T>
void transpose(int64_t rows, int64_t cols, const T* src, int64_t src_ld, T* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * src_ld + c];
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

template <typename T>
void forward_kernel(const Shape& s, const T* q, const T* k, const T* v, const Mask& mask, bool causal, T scale,
                    T* out, T* lse) {
  using Vec = Vectorized<T>;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  // K^T of every head, once, so each key tile is a ready B operand for every query tile.
  const bool dot_logits = s.Lq <= kDotRows;
  std::vector<T> KT(dot_logits ? 0 : s.B * s.Hkv * s.D * s.Lk);
  if (!dot_logits) {
    at::parallel_for(0, s.B * s.Hkv, 1, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) transpose(s.Lk, s.D, k + w * s.Lk * s.D, s.D, KT.data() + w * s.D * s.Lk);
    });
  }
  const int64_t n_qtiles = (s.Lq + kBlockQ - 1) / kBlockQ;
  at::parallel_for(0, s.B * s.Hq * n_qtiles, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> Qs(kBlockQ * s.D), S(kBlockQ * kBlockK), acc(kBlockQ * s.Dv), m(kBlockQ), l(kBlockQ);
    for (int64_t w = begin; w < end; ++w) {
      const int64_t b = w / (s.Hq * n_qtiles), h = (w / n_qtiles) % s.Hq, i0 = (w % n_qtiles) * kBlockQ;
      const int64_t bq = std::min(kBlockQ, s.Lq - i0), hk = h / s.group();
      // The query tile with the softmax scale folded in, so logits need no extra pass.
      at::vec::map([scale](Vec x) { return x * Vec(scale); }, Qs.data(), q + ((b * s.Hq + h) * s.Lq + i0) * s.D,
                   bq * s.D);
      const T* K = k + (b * s.Hkv + hk) * s.Lk * s.D;
      const T* Kt = dot_logits ? nullptr : KT.data() + (b * s.Hkv + hk) * s.D * s.Lk;
      const T* V = v + (b * s.Hkv + hk) * s.Lk * s.Dv;
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), T(0));
      std::fill(acc.begin(), acc.end(), T(0));
      const int64_t k_end = causal ? std::min(s.Lk, i0 + bq) : s.Lk;
      for (int64_t j0 = 0; j0 < k_end; j0 += kBlockK) {
        const int64_t bk = std::min(kBlockK, k_end - j0);
        if (dot_logits) {
          for (int64_t i = 0; i < bq; ++i)
            for (int64_t j = 0; j < bk; ++j)
              S[i * bk + j] = at::vec::map2_reduce_all<T>(
                  [](Vec x, Vec y) { return x * y; }, [](Vec x, Vec y) { return x + y; },
                  Qs.data() + i * s.D, K + (j0 + j) * s.D, s.D);
        } else {
          gemm<T>(bq, bk, s.D, Qs.data(), s.D, 1, Kt + j0, s.Lk, S.data(), bk, false);
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
        gemm<T>(bq, s.Dv, bk, S.data(), bk, 1, V + j0 * s.Dv, s.Dv, acc.data(), s.Dv, true);
      }
      T* O = out + ((b * s.Hq + h) * s.Lq + i0) * s.Dv;
      T* L = lse + (b * s.Hq + h) * s.Lq + i0;
      for (int64_t i = 0; i < bq; ++i) {
        const T inv = l[i] > T(0) ? T(1) / l[i] : T(0);
        at::vec::map([inv](Vec x) { return x * Vec(inv); }, O + i * s.Dv, acc.data() + i * s.Dv, s.Dv);
        L[i] = l[i] > T(0) ? m[i] + std::log(l[i]) : kNegInf;
      }
    }
  });
}

template <typename T>
void backward_kernel(const Shape& s, const T* q, const T* k, const T* v, const Mask& mask, bool causal, T scale,
                     const T* out, const T* dout, const T* lse, T* dq, T* dk, T* dv) {
  using Vec = Vectorized<T>;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t G = s.group();
  at::parallel_for(0, s.B * s.Hkv, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> P(kBlockQ * kBlockK), dP(kBlockQ * kBlockK), KT(s.D * kBlockK), VT(s.Dv * kBlockK);
    std::vector<T> dKb(kBlockK * s.D), dVb(kBlockK * s.Dv), Di(G * s.Lq);
    for (int64_t w = begin; w < end; ++w) {
      const int64_t b = w / s.Hkv, hk = w % s.Hkv;
      const T* K = k + (b * s.Hkv + hk) * s.Lk * s.D;
      const T* V = v + (b * s.Hkv + hk) * s.Lk * s.Dv;
      // Di = rowsum(dO * O): the softmax backward's correction term, once per query row.
      for (int64_t g = 0; g < G; ++g) {
        const int64_t base = (b * s.Hq + hk * G + g) * s.Lq;
        for (int64_t i = 0; i < s.Lq; ++i) {
          Di[g * s.Lq + i] = at::vec::map2_reduce_all<T>(
              [](Vec x, Vec y) { return x * y; }, [](Vec x, Vec y) { return x + y; },
              dout + (base + i) * s.Dv, out + (base + i) * s.Dv, s.Dv);
        }
      }
      for (int64_t j0 = 0; j0 < s.Lk; j0 += kBlockK) {
        const int64_t bk = std::min(kBlockK, s.Lk - j0);
        transpose(bk, s.D, K + j0 * s.D, s.D, KT.data());
        transpose(bk, s.Dv, V + j0 * s.Dv, s.Dv, VT.data());
        std::fill(dKb.begin(), dKb.end(), T(0));
        std::fill(dVb.begin(), dVb.end(), T(0));
        const int64_t i_start = causal ? (j0 / kBlockQ) * kBlockQ : 0;  // earlier rows see none of these keys
        for (int64_t g = 0; g < G; ++g) {
          const int64_t h = hk * G + g, head = b * s.Hq + h;
          for (int64_t i0 = i_start; i0 < s.Lq; i0 += kBlockQ) {
            const int64_t bq = std::min(kBlockQ, s.Lq - i0);
            const T* Q = q + (head * s.Lq + i0) * s.D;
            const T* dO = dout + (head * s.Lq + i0) * s.Dv;
            const T* L = lse + head * s.Lq + i0;
            gemm<T>(bq, bk, s.D, Q, s.D, 1, KT.data(), bk, P.data(), bk, false);
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
            gemm<T>(bk, s.Dv, bq, P.data(), 1, bk, dO, s.Dv, dVb.data(), s.Dv, true);  // dV += P^T dO
            gemm<T>(bq, bk, s.Dv, dO, s.Dv, 1, VT.data(), bk, dP.data(), bk, false);    // dP = dO V^T
            for (int64_t i = 0; i < bq; ++i) {  // dS = P * (dP - Di), with the softmax scale folded in
              const T d = Di[g * s.Lq + i0 + i];
              at::vec::map2([d, scale](Vec p, Vec dp) { return p * (dp - Vec(d)) * Vec(scale); },
                            dP.data() + i * bk, P.data() + i * bk, dP.data() + i * bk, bk);
            }
            gemm<T>(bq, s.D, bk, dP.data(), bk, 1, K + j0 * s.D, s.D, dq + (head * s.Lq + i0) * s.D, s.D, true);
            gemm<T>(bk, s.D, bq, dP.data(), 1, bk, Q, s.D, dKb.data(), s.D, true);  // dK += dS^T Q
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
  const at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  at::Tensor out = at::empty({s.B, s.Hq, s.Lq, s.Dv}, q.options());
  at::Tensor lse = at::empty({s.B, s.Hq, s.Lq}, q.options());
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention_forward_cpu", [&] {
    forward_kernel<scalar_t>(s, qc.const_data_ptr<scalar_t>(), kc.const_data_ptr<scalar_t>(),
                             vc.const_data_ptr<scalar_t>(), Mask::of(mask), is_causal, scalar_t(scale),
                             out.mutable_data_ptr<scalar_t>(), lse.mutable_data_ptr<scalar_t>());
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
  const at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  const at::Tensor oc = out.contiguous(), gc = grad_out.contiguous(), lc = lse.contiguous();
  at::Tensor dq = at::zeros_like(qc), dk = at::empty_like(kc), dv = at::empty_like(vc);
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "attention_backward_cpu", [&] {
    backward_kernel<scalar_t>(s, qc.const_data_ptr<scalar_t>(), kc.const_data_ptr<scalar_t>(),
                              vc.const_data_ptr<scalar_t>(), Mask::of(mask), is_causal, scalar_t(scale),
                              oc.const_data_ptr<scalar_t>(), gc.const_data_ptr<scalar_t>(),
                              lc.const_data_ptr<scalar_t>(), dq.mutable_data_ptr<scalar_t>(),
                              dk.mutable_data_ptr<scalar_t>(), dv.mutable_data_ptr<scalar_t>());
  });
  return {dq, dk, dv};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("attention_forward", &attention_forward_cpu);
  m.impl("attention_backward", &attention_backward_cpu);
}

}  // namespace zoo::attention
