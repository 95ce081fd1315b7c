// Expert activations in double (config.h defines them). Gated activations take the gate and up
// halves of GEMM1's row; non-gated ones take the single value. NaN always propagates: clamps are
// written so that a NaN input is never replaced by the limit.
#pragma once

#include <cmath>

#include "fusedmoe/config.h"
#include "fusedmoe/error.h"

namespace fusedmoe::reference {

inline double silu(double x) { return x / (1.0 + std::exp(-x)); }

inline double gelu_tanh(double x) {
  constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2 / pi)
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}

inline double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// min(x, limit) that keeps NaN.
inline double clamp_above(double x, double limit) { return x > limit ? limit : x; }
// clamp(x, -limit, limit) that keeps NaN.
inline double clamp_both(double x, double limit) {
  if (x > limit) return limit;
  if (x < -limit) return -limit;
  return x;
}

inline double gated_activation(Activation activation, const ActivationParams& params, double gate,
                               double up) {
  // clamp_limit = +inf leaves both halves unchanged.
  const double limit = params.clamp_limit;
  gate = clamp_above(gate, limit);
  up = clamp_both(up, limit);
  switch (activation) {
    case Activation::kSwiGLU: return silu(gate) * up;
    case Activation::kSwiGLUOAI:
      return (up + static_cast<double>(params.beta)) * gate * sigmoid_of(static_cast<double>(params.alpha) * gate);
    case Activation::kGeGLUTanh: return gelu_tanh(gate) * up;
    default: break;
  }
  throw Error(ErrorKind::kInternal, "fusedmoe: reference: gated_activation called for a non-gated activation");
}

inline double plain_activation(Activation activation, double x) {
  switch (activation) {
    case Activation::kReLU2: {
      const double relu = x > 0.0 ? x : (std::isnan(x) ? x : 0.0);
      return relu * relu;
    }
    case Activation::kSiLU: return silu(x);
    case Activation::kGeLUTanh: return gelu_tanh(x);
    default: break;
  }
  throw Error(ErrorKind::kInternal, "fusedmoe: reference: plain_activation called for a gated activation");
}

}  // namespace fusedmoe::reference
