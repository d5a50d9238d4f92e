// Fused scaled-dot-product attention, shared by the CPU and CUDA kernels:
// argument checks and the shape every kernel works on.
//
// Layout (the Python wrapper brings every call to it): q (B, Hq, Lq, D),
// k (B, Hkv, Lk, D), v (B, Hkv, Lk, Dv) with Hq a multiple of Hkv (grouped-query
// attention: query head h reads key/value head h / (Hq / Hkv)); attn_mask, if
// given, is bool (true = attend) or additive in q's dtype, with shape
// (B, Hq, Lq, Lk) after broadcasting (strides may be 0). Any strides are
// accepted; the forward returns out (B, Hq, Lq, Dv) laid out (B, Lq, Hq, Dv) in
// memory, as PyTorch's CPU flash attention does. Causal masking is
// top-left aligned, as torch.nn.functional.scaled_dot_product_attention's
// is_causal: query i sees keys j <= i.
//
// A query row whose keys are all masked gets output 0 and logsumexp -inf, and
// contributes zero gradient (PyTorch's math path gives NaN there).
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "common/checks.h"

namespace zoo::attention {

struct Shape {
  int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
  int64_t group() const { return Hq / Hkv; }
};

inline Shape check_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        const std::optional<at::Tensor>& mask) {
  const char* op = "attention";
  ZOO_CHECK_ARG(q.dim() == 4, op, "query", "must be 4-D (B, H, L, D) here, got ", q.dim(), "-D");
  ZOO_CHECK_ARG(k.dim() == 4, op, "key", "must be 4-D (B, H, L, D) here, got ", k.dim(), "-D");
  ZOO_CHECK_ARG(v.dim() == 4, op, "value", "must be 4-D (B, H, L, D) here, got ", v.dim(), "-D");
  check_floating(op, "query", q);
  check_same_dtype(op, "key", k, "query", q);
  check_same_dtype(op, "value", v, "query", q);
  check_same_device(op, "key", k, "query", q);
  check_same_device(op, "value", v, "query", q);
  const Shape s{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
  ZOO_CHECK_ARG(k.size(0) == s.B && v.size(0) == s.B, op, "key", "and 'value' must have batch size ", s.B,
                " like 'query', got ", k.size(0), " and ", v.size(0));
  ZOO_CHECK_ARG(v.size(1) == s.Hkv && v.size(2) == s.Lk, op, "value", "must have the heads and length of 'key' (",
                s.Hkv, ", ", s.Lk, "), got (", v.size(1), ", ", v.size(2), ")");
  ZOO_CHECK_ARG(k.size(3) == s.D, op, "key", "must have the head dim of 'query' (", s.D, "), got ", k.size(3));
  ZOO_CHECK_ARG(s.Hkv > 0 ? s.Hq % s.Hkv == 0 : s.Hq == 0, op, "key",
                "heads (", s.Hkv, ") must divide the query heads (", s.Hq, ")");
  if (mask.has_value()) {
    const at::Tensor& m = *mask;
    check_same_device(op, "attn_mask", m, "query", q);
    ZOO_CHECK_ARG(m.scalar_type() == at::kBool || m.scalar_type() == q.scalar_type(), op, "attn_mask",
                  "must be bool or the dtype of 'query' (", q.scalar_type(), "), got ", m.scalar_type());
    ZOO_CHECK_ARG(m.dim() == 4 && m.size(0) == s.B && m.size(1) == s.Hq && m.size(2) == s.Lq && m.size(3) == s.Lk,
                  op, "attn_mask", "must be expanded to (B, Hq, Lq, Lk) = (", s.B, ", ", s.Hq, ", ", s.Lq, ", ",
                  s.Lk, "), got ", m.sizes());
  }
  return s;
}

inline void check_backward_args(const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& lse,
                                const Shape& s) {
  const char* op = "attention_backward";
  ZOO_CHECK_ARG(grad_out.sizes() == out.sizes(), op, "grad_out", "must have the shape of 'out' ", out.sizes(),
                ", got ", grad_out.sizes());
  ZOO_CHECK_ARG(out.dim() == 4 && out.size(0) == s.B && out.size(1) == s.Hq && out.size(2) == s.Lq &&
                    out.size(3) == s.Dv,
                op, "out", "must be (B, Hq, Lq, Dv), got ", out.sizes());
  ZOO_CHECK_ARG(lse.dim() == 3 && lse.size(0) == s.B && lse.size(1) == s.Hq && lse.size(2) == s.Lq, op, "lse",
                "must be (B, Hq, Lq), got ", lse.sizes());
}

}  // namespace zoo::attention
