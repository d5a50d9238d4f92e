// Which algorithm CPU convolutions use where Winograd's applies, process-wide: set from
// Python by zoo.ops.conv_algorithm (through zoo._C), read by the conv kernels.
#pragma once

#include <atomic>

namespace zoo::conv {

enum class Algorithm : int {
  Auto = 0,      // Winograd where there are enough output tiles (and channels) to pay for its transforms
  Direct = 1,    // never Winograd
  Winograd = 2,  // Winograd wherever it applies, however small the conv
};

inline std::atomic<Algorithm>& algorithm() {
  static std::atomic<Algorithm> current{Algorithm::Auto};
  return current;
}

}  // namespace zoo::conv
