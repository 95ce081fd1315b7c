// The activation functions of the expert compute, in fp32, shared by every kernel that applies
// one (the between-GEMMs kernel and the weight-streaming GEMM1 epilogue), so both paths evaluate
// the same formula (docs/NUMERICS.md).
#pragma once

#include <cuda_runtime.h>

#include "fusedmoe/config.h"

namespace fusedmoe::sm90 {

__device__ __forceinline__ float activation_sigmoid(float x) { return 1.0f / (1.0f + __expf(-x)); }

__device__ __forceinline__ float activation_gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

struct ActivationMath {
  Activation kind;
  float alpha, beta, limit;  // SwiGLU-OAI parameters; limit = +inf disables clamping

  __device__ __forceinline__ float gated(float gate, float up) const {
    // Clamping (when the limit is finite): gate from above only, up on both sides.
    gate = fminf(gate, limit);
    up = fminf(fmaxf(up, -limit), limit);
    switch (kind) {
      case Activation::kSwiGLUOAI: return (up + beta) * gate * activation_sigmoid(alpha * gate);
      case Activation::kGeGLUTanh: return activation_gelu_tanh(gate) * up;
      default: return gate * activation_sigmoid(gate) * up;  // kSwiGLU
    }
  }

  __device__ __forceinline__ float single(float x) const {
    switch (kind) {
      case Activation::kReLU2: {
        const float positive = fmaxf(x, 0.0f);
        return positive * positive;
      }
      case Activation::kGeLUTanh: return activation_gelu_tanh(x);
      default: return x * activation_sigmoid(x);  // kSiLU
    }
  }
};

}  // namespace fusedmoe::sm90
