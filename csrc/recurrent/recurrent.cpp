// CPU kernels of zoo::lstm_layer / gru_layer / rnn_layer and their backward (BPTT).
// Each time step is one parallel region over hidden units: a thread multiplies
// the previous hidden state by its slice of W_hh (our micro-GEMM, all four/three
// gates) and applies the fused gate math to that slice for every batch row, so a
// step is one pass with no separate pointwise launches. The hidden state is
// double-buffered because every thread reads all of it. The backward runs the
// steps in reverse; grad W_hh is then one GEMM over all steps (our zoo::mm, as the
// input projection is zoo.ops.linear in the forward).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "common/fast_math.h"
#include "common/gemm.h"
#include "common/vec_loops.h"
#include "recurrent/recurrent.h"

namespace zoo::recurrent {
namespace {

using at::vec::Vectorized;

using zoo::for_vectors;
using zoo::gemm_panels;
using zoo::pack_panels;
using zoo::panel_width;

template <typename T>
Vectorized<T> sigmoid(Vectorized<T> x) {
  return Vectorized<T>(T(1)) / (Vectorized<T>(T(1)) + zoo::fast_exp(Vectorized<T>(T(0)) - x));
}

// tanh(x) = 2 sigmoid(2x) - 1: one exp and a division, cheaper than Sleef's tanh (with it,
// T100 B32 H256's LSTM layer went from 12.0 to 10.8 ms). Its error is about an ulp of 1,
// absolute, where tanh's is relative; exact at the tails, where exp's FLT_MAX or inf gives -1.
template <typename T>
Vectorized<T> tanh_by_sigmoid(Vectorized<T> x) {
  return Vectorized<T>(T(2)) * sigmoid(x + x) - Vectorized<T>(T(1));
}

bool active(const int64_t* lengths, int64_t t, int64_t b) { return lengths == nullptr || t < lengths[b]; }

// Multiply-adds of a step's hidden projection below which it runs on one thread: waking the
// others costs more than they save (T20 B1 H64's LSTM layer: 46 us on 2 threads, 34 on one).
constexpr int64_t kMinParallelStep = int64_t(1) << 17;

// Runs f(j0, j1) over a step's hidden units, split at panel boundaries; in parallel when the
// step's hidden projection (B x H by H x `columns`, gates * H) is large enough.
template <typename T, typename F>
void for_hidden_panels(const Shape& s, int64_t columns, F f) {
  constexpr int64_t NR = panel_width<T>();
  const int64_t panels = (s.H + NR - 1) / NR;
  const int64_t grain = s.B * columns * s.H < kMinParallelStep ? panels : 1;
  at::parallel_for(0, panels, grain, [&](int64_t p0, int64_t p1) { f(p0 * NR, std::min(s.H, p1 * NR)); });
}

// W_hh^T (H x G*H) packed per gate block, read at every step of the forward.
template <typename T>
std::vector<std::vector<T>> pack_gate_blocks(const T* w_hh, int64_t gates, int64_t H) {
  std::vector<std::vector<T>> packs;  // gate g's block of W_hh^T: B(k, n) = w_hh[(g * H + n) * H + k]
  for (int64_t g = 0; g < gates; ++g) packs.push_back(pack_panels(H, H, w_hh + g * H * H, 1, H));
  return packs;
}

// Row b past its length at this step: its saved gate blocks (gates null: none saved) and output are 0,
// its state is carried.
template <typename T>
void skip_row(const Shape& s, int64_t b, int64_t row, int64_t j0, int64_t j1, int64_t gate_blocks, T* gates,
              const T* h, T* h_next, T* out) {
  for (int64_t g = 0; g < gate_blocks && gates != nullptr; ++g) {
    std::fill(gates + (row * gate_blocks + g) * s.H + j0, gates + (row * gate_blocks + g) * s.H + j1, T(0));
  }
  std::fill(out + row * s.H + j0, out + row * s.H + j1, T(0));
  std::copy(h + b * s.H + j0, h + b * s.H + j1, h_next + b * s.H + j0);
}

// One term of dh_{t-1}: a step's rows of a gate gradient (B x depth, rows ld apart) times the
// rows of W_hh it multiplies, packed.
template <typename T>
struct HiddenTerm {
  const T* dpre;
  int64_t ld;
  int64_t depth;
  const std::vector<T>& w_packed;
};

// dh_{t-1} = the sum of the terms dpre_t * W_hh (+ direct, the GRU's z * dh term) over all hidden
// units; rows past their length at step t keep dh unchanged.
template <typename T>
void backprop_hidden(const Shape& s, std::initializer_list<HiddenTerm<T>> terms, const int64_t* len, int64_t t,
                     const T* direct, const std::vector<T>& dh, std::vector<T>& dh_next) {
  int64_t columns = 0;
  for (const auto& term : terms) columns += term.depth;
  for_hidden_panels<T>(s, columns, [&](int64_t j0, int64_t j1) {
    bool accumulate = false;
    for (const auto& term : terms) {
      gemm_panels<T>(s.B, j0, j1, term.depth, term.dpre, term.ld, 1, term.w_packed.data(), dh_next.data(), s.H,
                     accumulate);
      accumulate = true;
    }
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t j = b * s.H + j0; j < b * s.H + j1; ++j) {
        dh_next[j] = !active(len, t, b) ? dh[j] : direct != nullptr ? dh_next[j] + direct[j] : dh_next[j];
      }
    }
  });
}

// pre[:, g*H + j0 .. g*H + j1) = h (B x H) * W_hh^T for each gate block.
template <typename T>
void hidden_projection(const Shape& s, const std::vector<std::vector<T>>& packs, const T* h, int64_t j0, int64_t j1,
                       T* pre) {
  const int64_t gates = static_cast<int64_t>(packs.size());
  for (int64_t g = 0; g < gates; ++g) {
    gemm_panels<T>(s.B, j0, j1, s.H, h, s.H, 1, packs[g].data(), pre + g * s.H, gates * s.H, false);
  }
}

// cells and gates null: inference, nothing saved.
template <typename T>
void lstm_forward(const Shape& s, const T* xp, const T* w_hh, const T* h0, const T* c0, const int64_t* len, T* out,
                  T* hn, T* cn, T* cells, T* gates) {
  using Vec = Vectorized<T>;
  const int64_t H = s.H, B = s.B, G4 = 4 * H;
  const auto packs = pack_gate_blocks(w_hh, 4, H);
  std::vector<T> h(h0, h0 + B * H), h_next(B * H), c(c0, c0 + B * H), pre(B * G4);
  for (int64_t t = 0; t < s.T; ++t) {
    for_hidden_panels<T>(s, G4, [&](int64_t j0, int64_t j1) {
      hidden_projection(s, packs, h.data(), j0, j1, pre.data());
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        if (!active(len, t, b)) {
          skip_row(s, b, row, j0, j1, 4, gates, h.data(), h_next.data(), out);
          if (cells != nullptr) std::copy(c.data() + b * H + j0, c.data() + b * H + j1, cells + row * H + j0);
          continue;
        }
        const T* x = xp + row * G4;
        const T* p = pre.data() + b * G4;
        for_vectors<T>(j0, j1, [&](int64_t j, int64_t n) {
          auto gate = [&](int64_t g) { return Vec::loadu(x + g * H + j, n) + Vec::loadu(p + g * H + j, n); };
          const Vec i = sigmoid(gate(0)), f = sigmoid(gate(1)), gg = tanh_by_sigmoid(gate(2)), o = sigmoid(gate(3));
          const Vec c_new = f * Vec::loadu(c.data() + b * H + j, n) + i * gg;
          const Vec h_new = o * tanh_by_sigmoid(c_new);
          if (gates != nullptr) {
            T* gt = gates + row * G4;
            i.store(gt + j, n), f.store(gt + H + j, n), gg.store(gt + 2 * H + j, n), o.store(gt + 3 * H + j, n);
            c_new.store(cells + row * H + j, n);
          }
          c_new.store(c.data() + b * H + j, n);
          h_new.store(h_next.data() + b * H + j, n), h_new.store(out + row * H + j, n);
        });
      }
    });
    std::swap(h, h_next);
  }
  std::copy(h.begin(), h.end(), hn);
  std::copy(c.begin(), c.end(), cn);
}

template <typename T>
void lstm_backward(const Shape& s, const T* gout, const T* ghn, const T* gcn, const T* w_hh, const T* c0,
                   const int64_t* len, const T* cells, const T* gates, T* gxp, T* gh0, T* gc0) {
  using Vec = Vectorized<T>;
  const int64_t H = s.H, B = s.B, G4 = 4 * H;
  const std::vector<T> w_packed = pack_panels(G4, H, w_hh, H);
  std::vector<T> dh(ghn, ghn + B * H), dh_next(B * H), dc(gcn, gcn + B * H);
  for (int64_t t = s.T - 1; t >= 0; --t) {
    for_hidden_panels<T>(s, G4, [&](int64_t j0, int64_t j1) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        T* d = gxp + row * G4;
        if (!active(len, t, b)) {
          for (int64_t g = 0; g < 4; ++g) std::fill(d + g * H + j0, d + g * H + j1, T(0));
          continue;
        }
        const T* gt = gates + row * G4;
        const T* c_prev = t == 0 ? c0 + b * H : cells + (row - B) * H;
        for_vectors<T>(j0, j1, [&](int64_t j, int64_t n) {
          const Vec one(T(1));
          const Vec i = Vec::loadu(gt + j, n), f = Vec::loadu(gt + H + j, n);
          const Vec gg = Vec::loadu(gt + 2 * H + j, n), o = Vec::loadu(gt + 3 * H + j, n);
          const Vec tc = tanh_by_sigmoid(Vec::loadu(cells + row * H + j, n));
          const Vec dh_t = Vec::loadu(gout + row * H + j, n) + Vec::loadu(dh.data() + b * H + j, n);
          const Vec dct = Vec::loadu(dc.data() + b * H + j, n) + dh_t * o * (one - tc * tc);
          (dct * f).store(dc.data() + b * H + j, n);
          (dct * gg * i * (one - i)).store(d + j, n);
          (dct * Vec::loadu(c_prev + j, n) * f * (one - f)).store(d + H + j, n);
          (dct * i * (one - gg * gg)).store(d + 2 * H + j, n);
          (dh_t * tc * o * (one - o)).store(d + 3 * H + j, n);
        });
      }
    });
    backprop_hidden<T>(s, {{gxp + t * B * G4, G4, G4, w_packed}}, len, t, nullptr, dh, dh_next);
    std::swap(dh, dh_next);
  }
  std::copy(dh.begin(), dh.end(), gh0);
  std::copy(dc.begin(), dc.end(), gc0);
}

// gates null: inference, nothing saved.
template <typename T>
void gru_forward(const Shape& s, const T* xp, const T* w_hh, const T* b_hh, const T* h0, const int64_t* len, T* out,
                 T* hn, T* gates) {
  using Vec = Vectorized<T>;
  const int64_t H = s.H, B = s.B, G3 = 3 * H;
  const auto packs = pack_gate_blocks(w_hh, 3, H);
  std::vector<T> h(h0, h0 + B * H), h_next(B * H), pre(B * G3);
  for (int64_t t = 0; t < s.T; ++t) {
    for_hidden_panels<T>(s, G3, [&](int64_t j0, int64_t j1) {
      hidden_projection(s, packs, h.data(), j0, j1, pre.data());
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        if (!active(len, t, b)) {
          skip_row(s, b, row, j0, j1, 4, gates, h.data(), h_next.data(), out);
          continue;
        }
        const T* x = xp + row * G3;
        const T* p = pre.data() + b * G3;
        for_vectors<T>(j0, j1, [&](int64_t j, int64_t n) {
          auto hidden = [&](int64_t g) { return Vec::loadu(p + g * H + j, n) + Vec::loadu(b_hh + g * H + j, n); };
          const Vec r = sigmoid(Vec::loadu(x + j, n) + hidden(0));
          const Vec z = sigmoid(Vec::loadu(x + H + j, n) + hidden(1));
          const Vec hn_part = hidden(2);
          const Vec nn = tanh_by_sigmoid(Vec::loadu(x + 2 * H + j, n) + r * hn_part);
          const Vec h_new = (Vec(T(1)) - z) * nn + z * Vec::loadu(h.data() + b * H + j, n);
          if (gates != nullptr) {  // r, z, n and the hidden part of n, for the backward
            T* gt = gates + row * 4 * H;
            r.store(gt + j, n), z.store(gt + H + j, n), nn.store(gt + 2 * H + j, n), hn_part.store(gt + 3 * H + j, n);
          }
          h_new.store(h_next.data() + b * H + j, n), h_new.store(out + row * H + j, n);
        });
      }
    });
    std::swap(h, h_next);
  }
  std::copy(h.begin(), h.end(), hn);
}

// The gradient of the hidden projection h W_hh^T + b_hh is gxp's in its r and z blocks; its n block,
// dn * r, goes to dnr (T, B, H).
template <typename T>
void gru_backward(const Shape& s, const T* gout, const T* ghn, const T* w_hh, const T* h0, const int64_t* len,
                  const T* out, const T* gates, T* gxp, T* dnr, T* gh0) {
  using Vec = Vectorized<T>;
  const int64_t H = s.H, B = s.B, G3 = 3 * H;
  const std::vector<T> w_rz = pack_panels(2 * H, H, w_hh, H), w_n = pack_panels(H, H, w_hh + 2 * H * H, H);
  std::vector<T> dh(ghn, ghn + B * H), dh_next(B * H), direct(B * H);
  for (int64_t t = s.T - 1; t >= 0; --t) {
    for_hidden_panels<T>(s, G3, [&](int64_t j0, int64_t j1) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        T* d = gxp + row * G3;
        T* dn_r = dnr + row * H;
        if (!active(len, t, b)) {
          for (int64_t g = 0; g < 3; ++g) std::fill(d + g * H + j0, d + g * H + j1, T(0));
          std::fill(dn_r + j0, dn_r + j1, T(0));
          continue;
        }
        const T* gt = gates + row * 4 * H;
        const T* h_prev = t == 0 ? h0 + b * H : out + (row - B) * H;
        for_vectors<T>(j0, j1, [&](int64_t j, int64_t n) {
          const Vec one(T(1));
          const Vec r = Vec::loadu(gt + j, n), z = Vec::loadu(gt + H + j, n);
          const Vec nn = Vec::loadu(gt + 2 * H + j, n), hn_part = Vec::loadu(gt + 3 * H + j, n);
          const Vec dh_t = Vec::loadu(gout + row * H + j, n) + Vec::loadu(dh.data() + b * H + j, n);
          const Vec dn_pre = dh_t * (one - z) * (one - nn * nn);
          const Vec dr_pre = dn_pre * hn_part * r * (one - r);
          const Vec dz_pre = dh_t * (Vec::loadu(h_prev + j, n) - nn) * z * (one - z);
          dr_pre.store(d + j, n), dz_pre.store(d + H + j, n), dn_pre.store(d + 2 * H + j, n);
          (dn_pre * r).store(dn_r + j, n);
          (dh_t * z).store(direct.data() + b * H + j, n);
        });
      }
    });
    backprop_hidden<T>(s, {{gxp + t * B * G3, G3, 2 * H, w_rz}, {dnr + t * B * H, H, H, w_n}}, len, t, direct.data(),
                       dh, dh_next);
    std::swap(dh, dh_next);
  }
  std::copy(dh.begin(), dh.end(), gh0);
}

// Elman RNN: h_t = act(x_proj_t + h_{t-1} W_hh^T), both biases folded into x_proj.
template <typename T, bool Relu>
void rnn_forward(const Shape& s, const T* xp, const T* w_hh, const T* h0, const int64_t* len, T* out, T* hn) {
  using Vec = Vectorized<T>;
  const int64_t H = s.H, B = s.B;
  const auto packs = pack_gate_blocks(w_hh, 1, H);
  std::vector<T> h(h0, h0 + B * H), h_next(B * H), pre(B * H);
  for (int64_t t = 0; t < s.T; ++t) {
    for_hidden_panels<T>(s, H, [&](int64_t j0, int64_t j1) {
      hidden_projection(s, packs, h.data(), j0, j1, pre.data());
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        if (!active(len, t, b)) {
          skip_row<T>(s, b, row, j0, j1, 0, nullptr, h.data(), h_next.data(), out);
          continue;
        }
        for_vectors<T>(j0, j1, [&](int64_t j, int64_t n) {
          const Vec z = Vec::loadu(xp + row * H + j, n) + Vec::loadu(pre.data() + b * H + j, n);
          const Vec h_new = Relu ? at::vec::maximum(z, Vec(T(0))) : tanh_by_sigmoid(z);
          h_new.store(h_next.data() + b * H + j, n), h_new.store(out + row * H + j, n);
        });
      }
    });
    std::swap(h, h_next);
  }
  std::copy(h.begin(), h.end(), hn);
}

template <typename T, bool Relu>
void rnn_backward(const Shape& s, const T* gout, const T* ghn, const T* w_hh, const int64_t* len, const T* out,
                  T* gxp, T* gh0) {
  using Vec = Vectorized<T>;
  const int64_t H = s.H, B = s.B;
  const std::vector<T> w_packed = pack_panels(H, H, w_hh, H);
  std::vector<T> dh(ghn, ghn + B * H), dh_next(B * H);
  for (int64_t t = s.T - 1; t >= 0; --t) {
    for_hidden_panels<T>(s, H, [&](int64_t j0, int64_t j1) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = t * B + b;
        if (!active(len, t, b)) {
          std::fill(gxp + row * H + j0, gxp + row * H + j1, T(0));
          continue;
        }
        for_vectors<T>(j0, j1, [&](int64_t j, int64_t n) {
          const Vec h = Vec::loadu(out + row * H + j, n);
          const Vec slope = Relu ? h.gt(Vec(T(0))) : Vec(T(1)) - h * h;
          ((Vec::loadu(gout + row * H + j, n) + Vec::loadu(dh.data() + b * H + j, n)) * slope).store(gxp + row * H + j, n);
        });
      }
    });
    backprop_hidden<T>(s, {{gxp + t * B * H, H, H, w_packed}}, len, t, nullptr, dh, dh_next);
    std::swap(dh, dh_next);
  }
  std::copy(dh.begin(), dh.end(), gh0);
}

// grad W_hh = sum over steps of dpre_t^T h_{t-1}: one GEMM over the (T-1)*B rows whose
// h_{t-1} is in `out`, plus step 0's with h0, as the input projection is one GEMM in the forward.
// dpre (T, B, width) may be a slice of wider rows: it is read in place.
at::Tensor weight_gradient(const at::Tensor& dpre, const at::Tensor& h0, const at::Tensor& out) {
  const int64_t T = out.size(0), B = h0.size(0), H = h0.size(1);
  const at::Tensor rows = dpre.reshape({T * B, dpre.size(2)});
  if (T == 0) return at::zeros({dpre.size(2), H}, dpre.options());
  at::Tensor grad = zoo::mm(rows.narrow(0, 0, B).t(), h0);
  if (T > 1) grad += zoo::mm(rows.narrow(0, B, (T - 1) * B).t(), out.reshape({T * B, H}).narrow(0, 0, (T - 1) * B));
  return grad;
}

const int64_t* lengths_ptr(const std::optional<at::Tensor>& lengths, at::Tensor& holder) {
  if (!lengths.has_value()) return nullptr;
  holder = lengths->contiguous();
  return holder.const_data_ptr<int64_t>();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_layer_cpu(
    const at::Tensor& x_proj, const at::Tensor& w_hh, const at::Tensor& h0, const at::Tensor& c0,
    const std::optional<at::Tensor>& lengths, bool training) {
  const Shape s = check_layer_args("lstm_layer", 4, x_proj, w_hh, h0, lengths);
  check_cell_state("lstm_layer", c0, h0);
  check_cpu_dtype("lstm_layer", "x_proj", x_proj);
  const at::Tensor x = x_proj.contiguous(), w = w_hh.contiguous(), h = h0.contiguous(), c = c0.contiguous();
  at::Tensor out = empty_output({s.T, s.B, s.H}, x.options()), hn = at::empty_like(h), cn = at::empty_like(c);
  at::Tensor cells = saved_tensor(training, {s.T, s.B, s.H}, x.options());
  at::Tensor gates = saved_tensor(training, {s.T, s.B, 4 * s.H}, x.options());
  at::Tensor len_holder;
  const int64_t* len = lengths_ptr(lengths, len_holder);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_layer_cpu", [&] {
    lstm_forward<scalar_t>(s, x.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(),
                           c.const_data_ptr<scalar_t>(), len, out.mutable_data_ptr<scalar_t>(),
                           hn.mutable_data_ptr<scalar_t>(), cn.mutable_data_ptr<scalar_t>(),
                           saved_data<scalar_t>(cells), saved_data<scalar_t>(gates));
  });
  return {out, hn, cn, cells, gates};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_layer_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& grad_hn, const at::Tensor& grad_cn, const at::Tensor& w_hh,
    const at::Tensor& h0, const at::Tensor& c0, const std::optional<at::Tensor>& lengths, const at::Tensor& out,
    const at::Tensor& cells, const at::Tensor& gates) {
  const Shape s = check_layer_args("lstm_layer_backward", 4, gates, w_hh, h0, lengths);
  check_same_shape("lstm_layer_backward", "grad_out", grad_out, "out", out);
  check_cpu_dtype("lstm_layer_backward", "gates", gates);
  const at::Tensor go = grad_out.contiguous(), ghn = grad_hn.contiguous(), gcn = grad_cn.contiguous();
  const at::Tensor w = w_hh.contiguous(), h = h0.contiguous(), c = c0.contiguous();
  const at::Tensor o = out.contiguous(), cl = cells.contiguous(), g = gates.contiguous();
  at::Tensor gxp = empty_output(g.sizes(), g.options()), gh0 = at::empty_like(h), gc0 = at::empty_like(c);
  at::Tensor len_holder;
  const int64_t* len = lengths_ptr(lengths, len_holder);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "lstm_layer_backward_cpu", [&] {
    lstm_backward<scalar_t>(s, go.const_data_ptr<scalar_t>(), ghn.const_data_ptr<scalar_t>(),
                            gcn.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(),
                            len, cl.const_data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
                            gxp.mutable_data_ptr<scalar_t>(), gh0.mutable_data_ptr<scalar_t>(),
                            gc0.mutable_data_ptr<scalar_t>());
  });
  return {gxp, weight_gradient(gxp, h, o), gh0, gc0};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gru_layer_cpu(const at::Tensor& x_proj, const at::Tensor& w_hh,
                                                             const at::Tensor& b_hh, const at::Tensor& h0,
                                                             const std::optional<at::Tensor>& lengths, bool training) {
  const Shape s = check_layer_args("gru_layer", 3, x_proj, w_hh, h0, lengths);
  check_gru_bias("gru_layer", b_hh, x_proj, s);
  check_cpu_dtype("gru_layer", "x_proj", x_proj);
  const at::Tensor x = x_proj.contiguous(), w = w_hh.contiguous(), bh = b_hh.contiguous(), h = h0.contiguous();
  at::Tensor out = empty_output({s.T, s.B, s.H}, x.options()), hn = at::empty_like(h);
  at::Tensor gates = saved_tensor(training, {s.T, s.B, 4 * s.H}, x.options());
  at::Tensor len_holder;
  const int64_t* len = lengths_ptr(lengths, len_holder);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_layer_cpu", [&] {
    gru_forward<scalar_t>(s, x.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), bh.const_data_ptr<scalar_t>(),
                          h.const_data_ptr<scalar_t>(), len, out.mutable_data_ptr<scalar_t>(),
                          hn.mutable_data_ptr<scalar_t>(), saved_data<scalar_t>(gates));
  });
  return {out, hn, gates};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gru_layer_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& grad_hn, const at::Tensor& w_hh, const at::Tensor& b_hh,
    const at::Tensor& h0, const std::optional<at::Tensor>& lengths, const at::Tensor& out, const at::Tensor& gates) {
  const Shape s = check_layer_args("gru_layer_backward", 3, gates, w_hh, h0, lengths, /*width=*/4);
  check_same_shape("gru_layer_backward", "grad_out", grad_out, "out", out);
  check_cpu_dtype("gru_layer_backward", "out", out);
  const at::Tensor go = grad_out.contiguous(), ghn = grad_hn.contiguous(), w = w_hh.contiguous();
  const at::Tensor h = h0.contiguous(), o = out.contiguous(), g = gates.contiguous();
  at::Tensor gxp = empty_output({s.T, s.B, 3 * s.H}, o.options()), dnr = empty_output({s.T, s.B, s.H}, o.options());
  at::Tensor gh0 = at::empty_like(h);
  at::Tensor len_holder;
  const int64_t* len = lengths_ptr(lengths, len_holder);
  AT_DISPATCH_FLOATING_TYPES(o.scalar_type(), "gru_layer_backward_cpu", [&] {
    gru_backward<scalar_t>(s, go.const_data_ptr<scalar_t>(), ghn.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(),
                           h.const_data_ptr<scalar_t>(), len, o.const_data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
                           gxp.mutable_data_ptr<scalar_t>(), dnr.mutable_data_ptr<scalar_t>(),
                           gh0.mutable_data_ptr<scalar_t>());
  });
  const at::Tensor drz = gxp.narrow(2, 0, 2 * s.H);
  return {gxp, at::cat({weight_gradient(drz, h, o), weight_gradient(dnr, h, o)}),
          at::cat({drz.sum(at::IntArrayRef{0, 1}), dnr.sum(at::IntArrayRef{0, 1})}), gh0};
}

std::tuple<at::Tensor, at::Tensor> rnn_layer_cpu(const at::Tensor& x_proj, const at::Tensor& w_hh,
                                                 const at::Tensor& h0, const std::optional<at::Tensor>& lengths,
                                                 c10::string_view nonlinearity) {
  const Shape s = check_layer_args("rnn_layer", 1, x_proj, w_hh, h0, lengths);
  const bool relu = parse_relu("rnn_layer", nonlinearity);
  check_cpu_dtype("rnn_layer", "x_proj", x_proj);
  const at::Tensor x = x_proj.contiguous(), w = w_hh.contiguous(), h = h0.contiguous();
  at::Tensor out = empty_output({s.T, s.B, s.H}, x.options()), hn = at::empty_like(h);
  at::Tensor len_holder;
  const int64_t* len = lengths_ptr(lengths, len_holder);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnn_layer_cpu", [&] {
    auto run = relu ? rnn_forward<scalar_t, true> : rnn_forward<scalar_t, false>;
    run(s, x.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(), len,
        out.mutable_data_ptr<scalar_t>(), hn.mutable_data_ptr<scalar_t>());
  });
  return {out, hn};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> rnn_layer_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& grad_hn, const at::Tensor& w_hh, const at::Tensor& h0,
    const std::optional<at::Tensor>& lengths, const at::Tensor& out, c10::string_view nonlinearity) {
  const Shape s = check_layer_args("rnn_layer_backward", 1, out, w_hh, h0, lengths);
  const bool relu = parse_relu("rnn_layer_backward", nonlinearity);
  check_same_shape("rnn_layer_backward", "grad_out", grad_out, "out", out);
  check_cpu_dtype("rnn_layer_backward", "out", out);
  const at::Tensor go = grad_out.contiguous(), ghn = grad_hn.contiguous(), w = w_hh.contiguous();
  const at::Tensor h = h0.contiguous(), o = out.contiguous();
  at::Tensor gxp = empty_output(o.sizes(), o.options()), gh0 = at::empty_like(h);
  at::Tensor len_holder;
  const int64_t* len = lengths_ptr(lengths, len_holder);
  AT_DISPATCH_FLOATING_TYPES(o.scalar_type(), "rnn_layer_backward_cpu", [&] {
    auto run = relu ? rnn_backward<scalar_t, true> : rnn_backward<scalar_t, false>;
    run(s, go.const_data_ptr<scalar_t>(), ghn.const_data_ptr<scalar_t>(), w.const_data_ptr<scalar_t>(), len,
        o.const_data_ptr<scalar_t>(), gxp.mutable_data_ptr<scalar_t>(), gh0.mutable_data_ptr<scalar_t>());
  });
  return {gxp, weight_gradient(gxp, h, o), gh0};
}

}  // namespace

TORCH_LIBRARY_IMPL(zoo, CPU, m) {
  m.impl("rnn_layer", &rnn_layer_cpu);
  m.impl("rnn_layer_backward", &rnn_layer_backward_cpu);
  m.impl("lstm_layer", &lstm_layer_cpu);
  m.impl("lstm_layer_backward", &lstm_layer_backward_cpu);
  m.impl("gru_layer", &gru_layer_cpu);
  m.impl("gru_layer_backward", &gru_layer_backward_cpu);
}

}  // namespace zoo::recurrent
