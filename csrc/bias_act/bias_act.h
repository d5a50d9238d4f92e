// Fused bias + activation: y = act(x + bias), bias broadcast along one dimension.
// Shared by the CPU and CUDA kernels: the activation formulas (written once for
// scalars and, on the host, for at::vec::Vectorized), the argument checks and
// the (outer, channels, inner) view every kernel iterates over.
#pragma once

#include <ATen/ATen.h>
#include <c10/macros/Macros.h>

#include <cmath>
#include <optional>
#include <type_traits>
#include <utility>

#if !defined(__CUDACC__)
#include <ATen/cpu/vec/vec.h>

#include "common/fast_math.h"
#endif

#include "common/checks.h"

namespace zoo::bias_act {

enum class Activation { Identity, Relu, Gelu, GeluTanh, Silu };

inline Activation parse_activation(c10::string_view name) {
  if (name == "identity") return Activation::Identity;
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_tanh") return Activation::GeluTanh;
  if (name == "silu") return Activation::Silu;
  ZOO_CHECK_ARG(false, "bias_act", "act",
                "must be one of 'identity', 'relu', 'gelu', 'gelu_tanh', 'silu', got '",
                std::string(name), "'");
  return Activation::Identity;  // unreachable
}

// Calls f(std::integral_constant<Activation, A>{}) so kernels are compiled once
// per activation and the hot loop carries no switch.
template <typename F>
decltype(auto) dispatch_activation(Activation act, F&& f) {
  using A = Activation;
  switch (act) {
    case A::Relu: return f(std::integral_constant<A, A::Relu>{});
    case A::Gelu: return f(std::integral_constant<A, A::Gelu>{});
    case A::GeluTanh: return f(std::integral_constant<A, A::GeluTanh>{});
    case A::Silu: return f(std::integral_constant<A, A::Silu>{});
    default: return f(std::integral_constant<A, A::Identity>{});
  }
}

// Elementary functions, overloaded for scalars (host and device) and, on the
// host, for Vectorized<T>, so each formula below is written exactly once.
template <typename T>
C10_HOST_DEVICE inline T vexp(T x) { return ::exp(x); }
template <typename T>
C10_HOST_DEVICE inline T verf(T x) { return ::erf(x); }
template <typename T>
C10_HOST_DEVICE inline T vtanh(T x) { return ::tanh(x); }
template <typename T>
C10_HOST_DEVICE inline T vrelu(T x) { return x > T(0) ? x : T(0); }
template <typename T>
C10_HOST_DEVICE inline T vstep(T x) { return x > T(0) ? T(1) : T(0); }

#if !defined(__CUDACC__)
template <typename T>
inline at::vec::Vectorized<T> vexp(at::vec::Vectorized<T> x) { return zoo::fast_exp(x); }
template <typename T>
inline at::vec::Vectorized<T> verf(at::vec::Vectorized<T> x) { return zoo::fast_erf(x); }
template <typename T>
inline at::vec::Vectorized<T> vtanh(at::vec::Vectorized<T> x) { return x.tanh(); }
template <typename T>
inline at::vec::Vectorized<T> vrelu(at::vec::Vectorized<T> x) {
  return at::vec::maximum(x, at::vec::Vectorized<T>(T(0)));
}
template <typename T>
inline at::vec::Vectorized<T> vstep(at::vec::Vectorized<T> x) {
  return x.gt(at::vec::Vectorized<T>(T(0)));
}
#endif

constexpr double kSqrtHalf = 0.70710678118654752440;      // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;    // 1/sqrt(2*pi)
constexpr double kTanhScale = 0.79788456080286535588;     // sqrt(2/pi)
constexpr double kTanhCubic = 0.044715;

// act(z); T is a floating scalar or a Vectorized of one.
template <Activation A, typename T>
C10_HOST_DEVICE inline T forward(T z) {
  const T one(1), half(0.5);
  if constexpr (A == Activation::Relu) {
    return vrelu(z);
  } else if constexpr (A == Activation::Gelu) {
    return half * z * (one + verf(z * T(kSqrtHalf)));
  } else if constexpr (A == Activation::GeluTanh) {
    return half * z * (one + vtanh(T(kTanhScale) * (z + T(kTanhCubic) * z * z * z)));
  } else if constexpr (A == Activation::Silu) {
    return z / (one + vexp(T(0) - z));
  } else {
    return z;
  }
}

// d act(z) / dz.
template <Activation A, typename T>
C10_HOST_DEVICE inline T derivative(T z) {
  const T one(1), half(0.5);
  if constexpr (A == Activation::Relu) {
    return vstep(z);
  } else if constexpr (A == Activation::Gelu) {
    const T cdf = half * (one + verf(z * T(kSqrtHalf)));
    const T pdf = T(kInvSqrt2Pi) * vexp(T(-0.5) * z * z);
    return cdf + z * pdf;
  } else if constexpr (A == Activation::GeluTanh) {
    const T z2 = z * z;
    const T t = vtanh(T(kTanhScale) * (z + T(kTanhCubic) * z2 * z));
    const T dinner = T(kTanhScale) * (one + T(3 * kTanhCubic) * z2);
    return half * (one + t) + half * z * (one - t * t) * dinner;
  } else if constexpr (A == Activation::Silu) {
    const T s = one / (one + vexp(T(0) - z));
    return s * (one + z * (one - s));
  } else {
    return one;
  }
}

// x viewed as (outer, channels, inner) with the bias along `channels`.
// Without a bias the whole tensor is one channel.
struct Layout {
  Activation act;
  int64_t outer;
  int64_t channels;
  int64_t inner;
};

inline Layout check_args(const at::Tensor& x, const std::optional<at::Tensor>& bias,
                         c10::string_view act, int64_t dim) {
  const char* op = "bias_act";
  check_floating(op, "x", x);
  const Activation a = parse_activation(act);
  if (!bias.has_value()) {
    return {a, 1, 1, x.numel()};
  }
  const at::Tensor& b = *bias;
  ZOO_CHECK_ARG(x.dim() >= 1, op, "x", "must have at least 1 dimension when a bias is given");
  const int64_t d = wrap_dim(op, "dim", dim, x.dim());
  ZOO_CHECK_ARG(b.dim() == 1, op, "bias", "must be 1-D, got ", b.dim(), "-D");
  ZOO_CHECK_ARG(b.size(0) == x.size(d), op, "bias",
                "must have x.size(dim) = ", x.size(d), " elements, got ", b.size(0));
  check_same_dtype(op, "bias", b, "x", x);
  check_same_device(op, "bias", b, "x", x);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  return {a, outer, x.size(d), inner};
}

// The memory format of the result (and of the x and gradient the kernels read) and the
// (outer, channels, inner) view of memory in it: channels-last where x's strides suggest it,
// PyTorch's rule, as conv's results follow, so a channels-last CNN's activations are read and
// written where they lie. A bias along any dim but the channels' falls back to contiguous
// (x copied in). When x is contiguous in both formats (one channel) their memory orders agree.
struct Plan {
  at::MemoryFormat format;
  Layout layout;
};

inline Plan plan(const at::Tensor& x, const Layout& logical, bool has_bias, int64_t dim) {
  const at::MemoryFormat format = x.dim() >= 4 ? x.suggest_memory_format() : at::MemoryFormat::Contiguous;
  if (format == at::MemoryFormat::Contiguous || x.is_contiguous() || !has_bias) return {format, logical};
  if ((dim < 0 ? dim + x.dim() : dim) != 1) return {at::MemoryFormat::Contiguous, logical};
  return {format, {logical.act, logical.outer * logical.inner, logical.channels, 1}};  // channels innermost
}

inline void check_backward_args(const at::Tensor& grad, const at::Tensor& x) {
  check_same_shape("bias_act_backward", "grad", grad, "x", x);
  check_same_dtype("bias_act_backward", "grad", grad, "x", x);
  check_same_device("bias_act_backward", "grad", grad, "x", x);
}

}  // namespace zoo::bias_act
