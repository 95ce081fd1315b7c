// Error metrics between an output and what it should be, and the pass/fail rule: a result passes
// when it has no NaN/Inf (in either tensor: NaN never passes) and its relative L2 error is within
// the format's tolerance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fusedmoe/config.h"
#include "fusedmoe/types.h"

namespace fusedmoe::tools {

struct ErrorMetrics {
  int64_t count = 0;
  double rel_l2 = 0.0;       // ||actual - expected|| / ||expected|| over finite elements
  double max_abs_err = 0.0;
  double max_abs_expected = 0.0;
  double cosine = 1.0;       // of actual and expected as vectors
  int64_t nonfinite_actual = 0;    // NaN or Inf
  int64_t nonfinite_expected = 0;
  bool bitwise_equal = false;      // same values element for element (NaN never equal)
};

ErrorMetrics compare(const std::vector<double>& actual, const std::vector<double>& expected);

// A contiguous host tensor of fp32 / bf16 / fp16 as doubles.
std::vector<double> to_doubles(const TensorView& view);

// Relative-L2 tolerances per weight format:
//  * vs_reference: a backend against the CPU reference, which applies the same quantization
//    steps (docs/NUMERICS.md): only accumulation order differs.
//  * vs_exact: the library against the double-precision evaluation with unquantized activations
//    (exact_moe.h): bf16 rounding of activations, and for fp8 formats the activation quantization.
struct Tolerance {
  double vs_reference = 0.0;
  double vs_exact = 0.0;
};
Tolerance tolerance_for(WeightFormat format);

struct Verdict {
  bool pass = false;
  std::string reason;  // "rel L2 3.1e-03 <= 1.0e-02", "2 NaN/Inf in the output", ...
};
Verdict judge(const ErrorMetrics& metrics, double tolerance);

}  // namespace fusedmoe::tools
