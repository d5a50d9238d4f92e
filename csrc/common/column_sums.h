// Column sums with a float64 (for float) accumulator, in parallel over rows.
#pragma once

#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

namespace zoo {

// Column sums of a row-major (rows x channels) matrix: the bias gradient of
// a channels-last conv or of a linear layer.
// Accumulated in double: a float running sum over every pixel of a batch loses
// digits that PyTorch's pairwise sum keeps.
template <typename T>
void column_sums(int64_t rows, int64_t channels, const T* g, T* out) {
  using Acc = at::acc_type<T, /*is_cuda=*/false>;
  std::vector<Acc> partial(static_cast<size_t>(at::get_num_threads()) * channels, Acc(0));
  at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
    Acc* acc = partial.data() + at::get_thread_num() * channels;
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < channels; ++c) acc[c] += g[r * channels + c];
  });
  for (int64_t c = 0; c < channels; ++c) {
    Acc sum(0);
    for (int64_t i = 0; i < at::get_num_threads(); ++i) sum += partial[i * channels + c];
    out[c] = static_cast<T>(sum);
  }
}

}  // namespace zoo
