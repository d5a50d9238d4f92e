// exp and erf of a float vector, inline. Vectorized<float>'s exp() and erf()
// call Sleef's exp out of line, and every vector register is spilled around
// that call: our gelu ran at 0.65-0.75x PyTorch's with them. Double keeps the
// accurate, out-of-line ones.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <type_traits>

namespace zoo {

// Vectorized's exp_u20 for float (within 20 ulp; 0 below exp's range, FLT_MAX above).
template <typename T>
inline at::vec::Vectorized<T> fast_exp(at::vec::Vectorized<T> x) {
  if constexpr (std::is_same_v<T, float>) {
    return x.exp_u20();
  } else {
    return x.exp();
  }
}

// Vectorized<float>::erf's formula (Abramowitz & Stegun 7.1.26, within 1.5e-7) on fast_exp.
template <typename T>
inline at::vec::Vectorized<T> fast_erf(at::vec::Vectorized<T> x) {
  if constexpr (std::is_same_v<T, float>) {
    using Vec = at::vec::Vectorized<float>;
    const Vec one(1.0f), a = x.abs();
    const Vec t = one / at::vec::fmadd(Vec(0.3275911f), a, one);
    Vec r = at::vec::fmadd(Vec(1.061405429f), t, Vec(-1.453152027f));
    r = at::vec::fmadd(r, t, Vec(1.421413741f));
    r = at::vec::fmadd(r, t, Vec(-0.284496736f));
    r = at::vec::fmadd(r, t, Vec(0.254829592f));
    const Vec magnitude = one - r * t * fast_exp(Vec(0.0f) - a * a);
    return magnitude ^ (x & Vec(-0.0f));  // erf(-x) = -erf(x)
  } else {
    return x.erf();
  }
}

}  // namespace zoo
