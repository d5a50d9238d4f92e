// The conv kernels' epilogue on the CPU: bias + activation over rows of a
// channels-last result, vectorized along the channels.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>

#include "bias_act/bias_act.h"

namespace zoo::conv {

// y[r, c] = act(y[r, c] + bias[c]) over `rows` rows of `cols` values, rows ldy apart.
template <typename T>
inline void epilogue(int64_t rows, int64_t cols, T* y, int64_t ldy, const T* bias, bias_act::Activation act) {
  if (bias == nullptr && act == bias_act::Activation::Identity) return;
  using Vec = at::vec::Vectorized<T>;
  bias_act::dispatch_activation(act, [&](auto a) {
    constexpr bias_act::Activation A = decltype(a)::value;
    for (int64_t r = 0; r < rows; ++r) {
      T* row = y + r * ldy;
      for (int64_t c = 0; c < cols; c += Vec::size()) {
        const int64_t n = std::min<int64_t>(Vec::size(), cols - c);
        Vec v = Vec::loadu(row + c, n);
        if (bias != nullptr) v = v + Vec::loadu(bias + c, n);
        bias_act::forward<A>(v).store(row + c, n);
      }
    }
  });
}

}  // namespace zoo::conv
