// The epilogue of the conv and linear CPU kernels: bias + activation over rows
// of a row-major (channels-last) result, vectorized along the channels, applied
// to each finished tile while it is still in cache.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>

#include "bias_act/bias_act.h"

namespace zoo::bias_act {

// y[r, c] = act(y[r, c] + bias[c]) over `rows` rows of `cols` values, rows ldy apart.
template <typename T>
inline void epilogue(int64_t rows, int64_t cols, T* y, int64_t ldy, const T* bias, Activation act) {
  if (bias == nullptr && act == Activation::Identity) return;
  using Vec = at::vec::Vectorized<T>;
  dispatch_activation(act, [&](auto a) {
    constexpr Activation A = decltype(a)::value;
    for (int64_t r = 0; r < rows; ++r) {
      T* row = y + r * ldy;
      for (int64_t c = 0; c < cols; c += Vec::size()) {
        const int64_t n = std::min<int64_t>(Vec::size(), cols - c);
        Vec v = Vec::loadu(row + c, n);
        if (bias != nullptr) v = v + Vec::loadu(bias + c, n);
        forward<A>(v).store(row + c, n);
      }
    }
  });
}

}  // namespace zoo::bias_act
