// Large CPU outputs backed by transparent huge pages.
//
// glibc serves a block of 32 MiB or more as a fresh mapping at every allocation and
// unmaps it when freed, so writing such an output first faults once per 4 KiB page:
// on these VMs 100 MB cost ~40 ms of faults, ~12 ms when advised to 2 MiB pages. A
// training step of a GRU or an attention layer over a long KV cache writes hundreds
// of MB of gates and gradients, so our kernels advise outputs of that size before
// the first write, as PyTorch's THP_MEM_ALLOC_ENABLE=1 does for every allocation.
// Smaller blocks come from glibc's heap and are mostly reused, already faulted in;
// advising them cost more (a system call per output) than it saved.
// ZOO_HUGE_PAGES=0 turns it off.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace zoo {

inline bool huge_pages_enabled() {
  static const bool enabled = [] {
    const char* flag = std::getenv("ZOO_HUGE_PAGES");
    return flag == nullptr || std::strcmp(flag, "0") != 0;
  }();
  return enabled;
}

// Advises the 2 MiB-aligned pages inside t's memory when t is 32 MiB or more (see above).
inline void advise_huge_pages(const at::Tensor& t) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t(1) << 21;
  constexpr size_t kMinBytes = size_t(32) << 20;
  if (!t.is_cpu() || t.nbytes() < kMinBytes || !huge_pages_enabled()) return;
  const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = (begin + t.nbytes()) & ~(kHugePage - 1);
  // Advice only: where the kernel has THP off or no huge page free, the memory is ordinary pages.
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

// at::empty for an output our kernel writes in full; see above.
inline at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  at::Tensor t = at::empty(sizes, options);
  advise_huge_pages(t);
  return t;
}

}  // namespace zoo
