// exp/log/tanh overloaded for the accumulate types of CUDA kernels (float, double),
// so templated device code calls the right-precision intrinsic by name.
#pragma once

namespace zoo {

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }
__device__ inline float log_of(float x) { return logf(x); }
__device__ inline double log_of(double x) { return log(x); }
__device__ inline float tanh_of(float x) { return tanhf(x); }
__device__ inline double tanh_of(double x) { return tanh(x); }

}  // namespace zoo
