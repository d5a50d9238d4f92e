// An optional tensor (a bias) as the kernels take it: made contiguous once by the op,
// then read through a pointer that is null when the tensor is absent.
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace zoo {

inline std::optional<at::Tensor> contiguous_or_none(const std::optional<at::Tensor>& t) {
  return t.has_value() ? std::optional(t->contiguous()) : std::nullopt;
}

template <typename T>
const T* data_or_null(const std::optional<at::Tensor>& t) {
  return t.has_value() ? t->const_data_ptr<T>() : nullptr;
}

}  // namespace zoo
