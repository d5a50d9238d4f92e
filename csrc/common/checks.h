// Argument checks whose messages name the argument and what was expected
// (raised as ValueError in Python, like the reference ops' checks),
// so a user sees "zoo.bias_act: argument 'bias' must be 1-D, got 2-D" instead
// of an anonymous assertion.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#define ZOO_CHECK_ARG(cond, op, arg, ...) \
  TORCH_CHECK_VALUE(cond, "zoo.", op, ": argument '", arg, "' ", __VA_ARGS__)

namespace zoo {

// The dtypes our CPU kernels take (zoo.ops sends the others to the reference).
inline void check_cpu_dtype(const char* op, const char* arg, const at::Tensor& t) {
  ZOO_CHECK_ARG(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, arg,
                "must be float32 or float64 for the CPU kernel, got ", t.scalar_type());
}

// The dtypes our CUDA kernels take.
inline void check_cuda_dtype(const char* op, const char* arg, const at::Tensor& t) {
  const auto type = t.scalar_type();
  ZOO_CHECK_ARG(type == at::kHalf || type == at::kBFloat16 || type == at::kFloat || type == at::kDouble, op, arg,
                "must be float16, bfloat16, float32 or float64 for the CUDA kernel, got ", type);
}

// A device guard for kernels that need none (the CPU's, the host emulation of CUDA).
struct NoDeviceGuard {
  explicit NoDeviceGuard(at::Device) {}
};

// Wraps a possibly negative dimension index, naming the argument on failure.
inline int64_t wrap_dim(const char* op, const char* arg, int64_t dim, int64_t rank) {
  ZOO_CHECK_ARG(dim >= -rank && dim < rank, op, arg,
                "must be in [", -rank, ", ", rank - 1, "] for a ", rank,
                "-D input, got ", dim);
  return dim < 0 ? dim + rank : dim;
}

inline void check_floating(const char* op, const char* arg, const at::Tensor& t) {
  ZOO_CHECK_ARG(at::isFloatingType(t.scalar_type()), op, arg,
                "must be a floating-point tensor, got ", t.scalar_type());
}

inline void check_same_dtype(const char* op, const char* arg, const at::Tensor& t,
                             const char* ref_arg, const at::Tensor& ref) {
  ZOO_CHECK_ARG(t.scalar_type() == ref.scalar_type(), op, arg,
                "must have the same dtype as '", ref_arg, "', got ", t.scalar_type(),
                " and ", ref.scalar_type());
}

inline void check_same_device(const char* op, const char* arg, const at::Tensor& t,
                              const char* ref_arg, const at::Tensor& ref) {
  ZOO_CHECK_ARG(t.device() == ref.device(), op, arg, "must be on the same device as '",
                ref_arg, "', got ", t.device(), " and ", ref.device());
}

inline void check_same_shape(const char* op, const char* arg, const at::Tensor& t,
                             const char* ref_arg, const at::Tensor& ref) {
  ZOO_CHECK_ARG(t.sizes() == ref.sizes(), op, arg, "must have the same shape as '",
                ref_arg, "', got ", t.sizes(), " and ", ref.sizes());
}

}  // namespace zoo
