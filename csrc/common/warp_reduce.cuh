// Sum and max over the 32 lanes of a warp, by butterfly shuffles: every lane gets the result.
#pragma once

namespace zoo {

template <typename V>
__device__ V warp_sum(V v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename V>
__device__ V warp_max(V v) {
  for (int offset = 16; offset > 0; offset /= 2) v = max(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

}  // namespace zoo
