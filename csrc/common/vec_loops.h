// A loop over a row in at::vec-sized pieces, shared by the fused kernels' pointwise passes.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>

namespace zoo {

// Calls f(j, count) over [j0, j1) in vector-sized pieces, the last one partial: at::vec's
// loadu and store take the count.
template <typename T, typename F>
void for_vectors(int64_t j0, int64_t j1, F f) {
  constexpr int64_t V = at::vec::Vectorized<T>::size();
  for (int64_t j = j0; j < j1; j += V) f(j, std::min(V, j1 - j));
}

}  // namespace zoo
