// The device code of zoo::lstm_layer / gru_layer / rnn_layer on CUDA, and the host
// loops that drive it for any `launch(kernel, blocks, args...)`: recurrent_cuda.cu
// launches on the GPU, tests/ops/emulated/recurrent.cpp runs the same loops in the
// host emulation of CUDA (tests/ops/emulated/cuda_emulation.h), since CI has no GPU.
//
// One launch per time step does the whole step: a thread per (batch row, hidden
// unit) multiplies h_{t-1} by its columns of W_hh^T (read coalesced across the warp:
// neighbouring threads own neighbouring units) and applies the fused gate math, the
// same as the CPU kernel's. The state is kept in the accumulate type (float for
// half/bfloat16) between steps. The backward runs the steps in reverse, two launches
// each: the gate math's gradient per (row, unit), then dh_{t-1} = dpre W_hh per
// (row, unit), coalesced over W_hh's rows; grad W_hh is then one pass over all
// steps, a thread per weight. Semantics, saved tensors and `lengths` as recurrent.h.
//
// Small batches (B <= kPersistentMaxBatch), where a step's work is less than a
// launch costs and a thread per (row, unit) leaves most of the GPU idle, take the
// persistent kernels instead: one cooperative launch runs every step, with a
// grid-wide barrier between steps. The persistent forward gives each hidden unit a
// warp whose lanes split the sums over H, so even a batch of one spreads over the
// GPU; the persistent backward runs the two step kernels' bodies between barriers.
// Include after cooperative_groups.h (or the emulation's stand-in).
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <tuple>

#include "recurrent/recurrent.h"
#include "common/device_math.cuh"
#include "common/warp_reduce.cuh"

namespace zoo::recurrent::kernels {

constexpr int kThreads = 256;
constexpr int64_t kPersistentMaxBatch = 16;

template <typename T>
using acc_t = at::opmath_type<T>;

enum class Cell { Lstm, Gru, RnnTanh, RnnRelu };

// Gate blocks of W_hh (and of x_proj and its gradient).
constexpr int gate_blocks(Cell c) { return c == Cell::Lstm ? 4 : c == Cell::Gru ? 3 : 1; }
// Blocks of the saved `gates`: LSTM i, f, g, o; GRU r, z, n and the hidden part of n.
constexpr int saved_blocks(Cell c) { return c == Cell::Lstm || c == Cell::Gru ? 4 : 0; }

template <typename A>
__device__ A sigmoid(A x) {
  return A(1) / (A(1) + exp_of(-x));
}

__device__ inline bool active(const int64_t* lengths, int64_t t, int64_t b) {
  return lengths == nullptr || t < lengths[b];
}

template <typename T>
struct ForwardStep {
  int64_t B, H, t;
  const int64_t* lengths;  // on the device, or null
  const T* x_proj;         // (T, B, G*H)
  const T* w_t;            // the per-step kernel's W_hh^T (H, G*H), else null
  const T* w;              // the persistent kernel's W_hh (G*H, H), else null
  const T* b_hh;           // GRU (3H)
  acc_t<T>* state;         // (2, B, H): h_{t-1} and h_t, swapped every step
  acc_t<T>* c;             // LSTM (B, H): c_{t-1}, becomes c_t
  T* out;                  // (T, B, H)
  T* cells;                // LSTM (T, B, H), or null (inference)
  T* gates;                // (T, B, saved_blocks * H), or null (inference)

  __device__ const acc_t<T>* h() const { return state + (t % 2) * B * H; }
  __device__ acc_t<T>* h_next() const { return state + ((t + 1) % 2) * B * H; }
};

// Unit j of row b past the row's end at step t: state carried, outputs 0.
template <Cell C, typename T>
__device__ void skip_unit(const ForwardStep<T>& a, int64_t b, int64_t j) {
  constexpr int S = saved_blocks(C);
  const int64_t H = a.H, row = a.t * a.B + b, e = b * H + j;
  for (int g = 0; g < S && a.gates != nullptr; ++g) a.gates[row * S * H + g * H + j] = T(0);
  a.out[row * H + j] = T(0);
  a.h_next()[e] = a.h()[e];
  if constexpr (C == Cell::Lstm) {
    if (a.cells != nullptr) a.cells[row * H + j] = T(a.c[e]);
  }
}

// The fused gate math of unit j of row b at step t, given its h_{t-1} W_hh^T, one per gate block.
template <Cell C, typename T>
__device__ void update_unit(const ForwardStep<T>& a, int64_t b, int64_t j, const acc_t<T> (&pre)[gate_blocks(C)]) {
  using A = acc_t<T>;
  constexpr int G = gate_blocks(C), S = saved_blocks(C);
  const int64_t H = a.H, GH = G * H, row = a.t * a.B + b, e = b * H + j;
  T* const saved = S > 0 && a.gates != nullptr ? a.gates + row * S * H + j : nullptr;
  const T* x = a.x_proj + row * GH + j;
  A h_new;
  if constexpr (C == Cell::Lstm) {
    const A i = sigmoid(A(x[0]) + pre[0]), f = sigmoid(A(x[H]) + pre[1]);
    const A gg = tanh_of(A(x[2 * H]) + pre[2]), o = sigmoid(A(x[3 * H]) + pre[3]);
    const A c_new = f * a.c[e] + i * gg;
    h_new = o * tanh_of(c_new);
    a.c[e] = c_new;
    if (saved != nullptr) {
      saved[0] = T(i), saved[H] = T(f), saved[2 * H] = T(gg), saved[3 * H] = T(o);
      a.cells[row * H + j] = T(c_new);
    }
  } else if constexpr (C == Cell::Gru) {
    const A r = sigmoid(A(x[0]) + pre[0] + A(a.b_hh[j]));
    const A z = sigmoid(A(x[H]) + pre[1] + A(a.b_hh[H + j]));
    const A hn_part = pre[2] + A(a.b_hh[2 * H + j]);
    const A n = tanh_of(A(x[2 * H]) + r * hn_part);
    h_new = (A(1) - z) * n + z * a.h()[e];
    if (saved != nullptr) saved[0] = T(r), saved[H] = T(z), saved[2 * H] = T(n), saved[3 * H] = T(hn_part);
  } else {
    const A z = A(x[0]) + pre[0];
    h_new = C == Cell::RnnRelu ? (z > A(0) ? z : A(0)) : tanh_of(z);
  }
  a.h_next()[e] = h_new;
  a.out[row * H + j] = T(h_new);
}

template <Cell C, typename T>
__global__ void __launch_bounds__(kThreads) forward_step_kernel(ForwardStep<T> a) {
  using A = acc_t<T>;
  constexpr int G = gate_blocks(C);
  const int64_t H = a.H, GH = G * H;
  const A* h = a.h();
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < a.B * H; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = e / H, j = e % H;
    if (!active(a.lengths, a.t, b)) {
      skip_unit<C>(a, b, j);
      continue;
    }
    A pre[G] = {};
    for (int64_t k = 0; k < H; ++k) {
      const A hk = h[b * H + k];
      for (int g = 0; g < G; ++g) pre[g] += hk * A(a.w_t[k * GH + g * H + j]);
    }
    update_unit<C>(a, b, j, pre);
  }
}

// Every step of the forward in one cooperative launch: a warp per hidden unit
// (grid-stride), its lanes summing h_{t-1} W_hh^T along W_hh's rows, lane 0 applying
// the gate math; a grid-wide barrier ends each step.
template <Cell C, typename T>
__global__ void __launch_bounds__(kThreads) forward_persistent_kernel(ForwardStep<T> a, int64_t steps) {
  using A = acc_t<T>;
  constexpr int G = gate_blocks(C);
  const int64_t H = a.H, lane = threadIdx.x % 32;
  const int64_t first_warp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  for (a.t = 0; a.t < steps; ++a.t) {
    const A* h = a.h();
    for (int64_t j = first_warp; j < H; j += warps) {
      for (int64_t b = 0; b < a.B; ++b) {
        if (!active(a.lengths, a.t, b)) {
          if (lane == 0) skip_unit<C>(a, b, j);
          continue;
        }
        A pre[G] = {};
        for (int64_t k = lane; k < H; k += 32) {
          const A hk = h[b * H + k];
          for (int g = 0; g < G; ++g) pre[g] += hk * A(a.w[(g * H + j) * H + k]);
        }
        for (int g = 0; g < G; ++g) pre[g] = warp_sum(pre[g]);
        if (lane == 0) update_unit<C>(a, b, j, pre);
      }
    }
    cooperative_groups::this_grid().sync();
  }
}

template <typename T>
struct BackwardStep {
  int64_t B, H, t;
  const int64_t* lengths;
  const T* grad_out;        // (T, B, H)
  const T* out;             // (T, B, H)
  const T* cells;           // LSTM (T, B, H)
  const T* gates;           // (T, B, saved_blocks * H)
  const T* h0;              // (B, H)
  const T* c0;              // LSTM (B, H)
  const T* w;               // W_hh (G*H, H)
  acc_t<T>* grads;          // (2, B, H): the gradients reaching h_t and h_{t-1}, swapped every step
  acc_t<T>* dc;             // LSTM (B, H): reaching c_t, becomes reaching c_{t-1}
  acc_t<T>* dpre;           // (B, G*H): the gradient of h_{t-1} W_hh^T (+ b_hh)
  acc_t<T>* direct;         // GRU (B, H): z * dh_t, reaching h_{t-1} around W_hh
  T* grad_x_proj;           // (T, B, G*H)
  T* grad_hidden;           // GRU (T, B, 3H): dpre of every step, for grad W_hh and b_hh

  __device__ const acc_t<T>* dh() const { return grads + ((t + 1) % 2) * B * H; }
  __device__ acc_t<T>* dh_prev() const { return grads + (t % 2) * B * H; }
};

// The gate math's gradient at step t for every (row, unit), grid-stride.
template <Cell C, typename T>
__device__ void backward_gates(const BackwardStep<T>& a) {
  using A = acc_t<T>;
  constexpr int G = gate_blocks(C);
  const int64_t H = a.H, GH = G * H;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < a.B * H; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = e / H, j = e % H, row = a.t * a.B + b;
    T* dx = a.grad_x_proj + row * GH + j;
    A* dp = a.dpre + b * GH + j;
    if (!active(a.lengths, a.t, b)) {  // no gradient through a skipped step; dh and dc pass by
      for (int g = 0; g < G; ++g) {
        dx[g * H] = T(0), dp[g * H] = A(0);
        if constexpr (C == Cell::Gru) a.grad_hidden[row * GH + g * H + j] = T(0);
      }
      continue;
    }
    const A dh_t = A(a.grad_out[row * H + j]) + a.dh()[e];
    if constexpr (C == Cell::Lstm) {
      const T* s = a.gates + row * 4 * H + j;
      const A i = A(s[0]), f = A(s[H]), gg = A(s[2 * H]), o = A(s[3 * H]);
      const A tc = tanh_of(A(a.cells[row * H + j]));
      const A c_prev = a.t == 0 ? A(a.c0[e]) : A(a.cells[(row - a.B) * H + j]);
      const A dct = a.dc[e] + dh_t * o * (A(1) - tc * tc);
      a.dc[e] = dct * f;
      const A d[4] = {dct * gg * i * (A(1) - i), dct * c_prev * f * (A(1) - f), dct * i * (A(1) - gg * gg),
                      dh_t * tc * o * (A(1) - o)};
      for (int g = 0; g < 4; ++g) dx[g * H] = T(d[g]), dp[g * H] = d[g];
    } else if constexpr (C == Cell::Gru) {
      const T* s = a.gates + row * 4 * H + j;
      const A r = A(s[0]), z = A(s[H]), n = A(s[2 * H]), hn_part = A(s[3 * H]);
      const A h_prev = a.t == 0 ? A(a.h0[e]) : A(a.out[(row - a.B) * H + j]);
      const A dn_pre = dh_t * (A(1) - z) * (A(1) - n * n);
      const A dr_pre = dn_pre * hn_part * r * (A(1) - r);
      const A dz_pre = dh_t * (h_prev - n) * z * (A(1) - z);
      dx[0] = T(dr_pre), dx[H] = T(dz_pre), dx[2 * H] = T(dn_pre);
      const A dhidden[3] = {dr_pre, dz_pre, dn_pre * r};
      for (int g = 0; g < 3; ++g) a.grad_hidden[row * GH + g * H + j] = T(dhidden[g]), dp[g * H] = dhidden[g];
      a.direct[e] = dh_t * z;
    } else {
      const A h = A(a.out[row * H + j]);
      const A slope = C == Cell::RnnRelu ? A(h > A(0)) : A(1) - h * h;
      dx[0] = T(dh_t * slope), dp[0] = dh_t * slope;
    }
  }
}

// dh_{t-1} = dpre W_hh (+ the GRU's direct term) for every (row, unit k), grid-stride.
template <Cell C, typename T>
__device__ void backward_hidden(const BackwardStep<T>& a) {
  using A = acc_t<T>;
  const int64_t H = a.H, GH = gate_blocks(C) * H;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < a.B * H; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = e / H, k = e % H;
    if (!active(a.lengths, a.t, b)) {
      a.dh_prev()[e] = a.dh()[e];
      continue;
    }
    A sum = C == Cell::Gru ? a.direct[e] : A(0);
    for (int64_t n = 0; n < GH; ++n) sum += a.dpre[b * GH + n] * A(a.w[n * H + k]);
    a.dh_prev()[e] = sum;
  }
}

template <Cell C, typename T>
__global__ void __launch_bounds__(kThreads) backward_gates_kernel(BackwardStep<T> a) {
  backward_gates<C>(a);
}

template <Cell C, typename T>
__global__ void __launch_bounds__(kThreads) backward_hidden_kernel(BackwardStep<T> a) {
  backward_hidden<C>(a);
}

// Every step of the backward in one cooperative launch: the two kernels' bodies, each
// ended by a grid-wide barrier.
template <Cell C, typename T>
__global__ void __launch_bounds__(kThreads) backward_persistent_kernel(BackwardStep<T> a, int64_t steps) {
  for (a.t = steps - 1; a.t >= 0; --a.t) {
    backward_gates<C>(a);
    cooperative_groups::this_grid().sync();
    backward_hidden<C>(a);
    cooperative_groups::this_grid().sync();
  }
}

// grad W_hh (G*H, H) = sum over steps and rows of dpre^T h_{t-1}, a thread per weight.
template <typename T>
__global__ void __launch_bounds__(kThreads) weight_gradient_kernel(int64_t steps, int64_t B, int64_t H, int64_t GH,
                                                                    const T* dpre, const T* h0, const T* out,
                                                                    T* grad_w) {
  using A = acc_t<T>;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < GH * H; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = e / H, k = e % H;
    A sum = 0;
    for (int64_t r = 0; r < steps * B; ++r) {
      const A h_prev = r < B ? A(h0[r * H + k]) : A(out[(r - B) * H + k]);
      sum += A(dpre[r * GH + n]) * h_prev;
    }
    grad_w[e] = T(sum);
  }
}

inline int64_t blocks_for(int64_t n) { return std::min<int64_t>((n + kThreads - 1) / kThreads, 65535LL * 8); }

// lengths on the tensors' device, and a pointer to them (null without lengths).
inline const int64_t* device_lengths(const std::optional<at::Tensor>& lengths, const at::Tensor& like,
                                     at::Tensor& holder) {
  if (!lengths.has_value()) return nullptr;
  holder = lengths->to(like.device()).contiguous();
  return holder.const_data_ptr<int64_t>();
}

// Blocks for a persistent kernel that can use `wanted`: at most as many as the device
// holds at once, and 0 (take the per-step kernels) for a batch above
// kPersistentMaxBatch or where `launch` has no cooperative launch.
template <typename Launch, typename Kernel>
int64_t persistent_blocks(const Shape& s, const Launch& launch, Kernel kernel, int64_t wanted) {
  return s.B <= kPersistentMaxBatch ? std::min(launch.cooperative_blocks(kernel), wanted) : 0;
}

// body(T{}) for t's dtype: float32/float64, and float16/bfloat16 computed in float.
inline void dispatch_dtype(const at::Tensor& t, auto body) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, t.scalar_type(), "recurrent_cuda", [&] { body(scalar_t{}); });
}

// The host code below runs on any `launch` with
//   launch(kernel, blocks, args...)              kernel<<<blocks, kThreads>>>(args...)
//   launch.cooperative_blocks(kernel)            how many blocks of kernel fit the device at once (0: none)
//   launch.cooperative(kernel, blocks, args...)  the same launch with a grid-wide barrier available

// The forward over all steps: returns (out, h_n, c_n (LSTM, else undefined), cells (LSTM), gates),
// cells and gates empty unless training.
template <Cell C, typename Launch>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> layer_forward(
    const Shape& s, const at::Tensor& x_proj, const at::Tensor& w_hh, const std::optional<at::Tensor>& b_hh,
    const at::Tensor& h0, const std::optional<at::Tensor>& c0, const std::optional<at::Tensor>& lengths,
    bool training, Launch launch) {
  const at::Tensor x = x_proj.contiguous();
  const at::TensorOptions acc = x.options().dtype(at::toOpMathType(x.scalar_type()));
  at::Tensor state = at::empty({2, s.B, s.H}, acc);  // h_{t-1} and h_t, swapped every step
  state[0].copy_(h0);
  at::Tensor c = C == Cell::Lstm ? at::empty({s.B, s.H}, acc).copy_(*c0) : at::Tensor();
  at::Tensor out = at::empty({s.T, s.B, s.H}, x.options());
  at::Tensor cells = C == Cell::Lstm ? saved_tensor(training, {s.T, s.B, s.H}, x.options()) : at::Tensor();
  at::Tensor gates = saved_tensor(training, {s.T, s.B, saved_blocks(C) * s.H}, x.options());
  const at::Tensor bias = b_hh.has_value() ? b_hh->contiguous() : at::Tensor();
  at::Tensor len_holder;
  const int64_t* len = device_lengths(lengths, x, len_holder);
  dispatch_dtype(x, [&](auto zero) {
    using T = decltype(zero);
    using A = acc_t<T>;
    if (s.T == 0 || s.B * s.H == 0) return;
    const auto persistent = forward_persistent_kernel<C, T>;
    const int64_t grid = persistent_blocks(s, launch, persistent, blocks_for(s.H * 32));  // a warp per unit
    const at::Tensor w = grid > 0 ? w_hh.contiguous() : w_hh.t().contiguous();
    ForwardStep<T> a{s.B, s.H, 0, len, x.const_data_ptr<T>(), grid > 0 ? nullptr : w.const_data_ptr<T>(),
                     grid > 0 ? w.const_data_ptr<T>() : nullptr, bias.defined() ? bias.const_data_ptr<T>() : nullptr,
                     state.mutable_data_ptr<A>(), c.defined() ? c.mutable_data_ptr<A>() : nullptr,
                     out.mutable_data_ptr<T>(), cells.defined() ? saved_data<T>(cells) : nullptr,
                     saved_data<T>(gates)};
    if (grid > 0) return launch.cooperative(persistent, grid, a, s.T);
    for (a.t = 0; a.t < s.T; ++a.t) launch(forward_step_kernel<C, T>, blocks_for(s.B * s.H), a);
  });
  at::Tensor h_n = state[s.T % 2].to(x.scalar_type(), false, true);
  at::Tensor c_n = C == Cell::Lstm ? c.to(x.scalar_type(), false, true) : at::Tensor();
  return {out, h_n, c_n, cells, gates};
}

// The backward through all steps: returns (grad x_proj, grad W_hh, grad h0, grad c0 (LSTM),
// the GRU's dpre of every step (T, B, 3H), whose sum is grad b_hh).
template <Cell C, typename Launch>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> layer_backward(
    const Shape& s, const at::Tensor& grad_out, const at::Tensor& grad_h_n, const std::optional<at::Tensor>& grad_c_n,
    const at::Tensor& w_hh, const at::Tensor& h0, const std::optional<at::Tensor>& c0,
    const std::optional<at::Tensor>& lengths, const at::Tensor& out, const std::optional<at::Tensor>& cells,
    const at::Tensor& gates, Launch launch) {
  constexpr int G = gate_blocks(C);
  const at::Tensor go = grad_out.contiguous(), w = w_hh.contiguous(), h = h0.contiguous(), o = out.contiguous();
  const at::Tensor g = gates.contiguous();
  const at::Tensor c = C == Cell::Lstm ? c0->contiguous() : at::Tensor();
  const at::Tensor cl = C == Cell::Lstm ? cells->contiguous() : at::Tensor();
  const at::TensorOptions acc = o.options().dtype(at::toOpMathType(o.scalar_type()));
  at::Tensor grads = at::empty({2, s.B, s.H}, acc);  // dh reaching h_t and h_{t-1}, swapped every step
  grads[s.T % 2].copy_(grad_h_n);
  at::Tensor dc = C == Cell::Lstm ? at::empty({s.B, s.H}, acc).copy_(*grad_c_n) : at::Tensor();
  at::Tensor dpre = at::empty({s.B, G * s.H}, acc);
  at::Tensor direct = C == Cell::Gru ? at::empty({s.B, s.H}, acc) : at::Tensor();
  at::Tensor gxp = at::empty({s.T, s.B, G * s.H}, o.options());
  at::Tensor dhidden = C == Cell::Gru ? at::empty({s.T, s.B, G * s.H}, o.options()) : at::Tensor();
  at::Tensor grad_w = at::empty(w.sizes(), w.options());
  at::Tensor len_holder;
  const int64_t* len = device_lengths(lengths, o, len_holder);
  dispatch_dtype(o, [&](auto zero) {
    using T = decltype(zero);
    using A = acc_t<T>;
    BackwardStep<T> a{s.B, s.H, s.T - 1, len, go.const_data_ptr<T>(), o.const_data_ptr<T>(),
                      cl.defined() ? cl.const_data_ptr<T>() : nullptr, g.const_data_ptr<T>(), h.const_data_ptr<T>(),
                      c.defined() ? c.const_data_ptr<T>() : nullptr, w.const_data_ptr<T>(),
                      grads.mutable_data_ptr<A>(), dc.defined() ? dc.mutable_data_ptr<A>() : nullptr,
                      dpre.mutable_data_ptr<A>(), direct.defined() ? direct.mutable_data_ptr<A>() : nullptr,
                      gxp.mutable_data_ptr<T>(), dhidden.defined() ? dhidden.mutable_data_ptr<T>() : nullptr};
    const auto persistent = backward_persistent_kernel<C, T>;
    const int64_t grid = persistent_blocks(s, launch, persistent, blocks_for(s.B * s.H));
    if (s.T > 0 && s.B * s.H > 0 && grid > 0) {
      launch.cooperative(persistent, grid, a, s.T);
    } else {
      for (; a.t >= 0 && s.B * s.H > 0; --a.t) {
        launch(backward_gates_kernel<C, T>, blocks_for(s.B * s.H), a);
        launch(backward_hidden_kernel<C, T>, blocks_for(s.B * s.H), a);
      }
    }
    const at::Tensor& weight_dpre = C == Cell::Gru ? dhidden : gxp;
    if (w.numel() > 0) {
      launch(weight_gradient_kernel<T>, blocks_for(w.numel()), s.T, s.B, s.H, int64_t(G) * s.H,
             weight_dpre.const_data_ptr<T>(), h.const_data_ptr<T>(), o.const_data_ptr<T>(),
             grad_w.mutable_data_ptr<T>());
    }
  });
  at::Tensor grad_h0 = grads[0].to(o.scalar_type(), false, true);
  at::Tensor grad_c0 = C == Cell::Lstm ? dc.to(o.scalar_type(), false, true) : at::Tensor();
  return {gxp, grad_w, grad_h0, grad_c0, dhidden};
}

}  // namespace zoo::recurrent::kernels
