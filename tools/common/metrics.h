// Error metrics between an output and what it should be, and the pass/fail rule: a result passes
// when it has no NaN/Inf (in either tensor: NaN never passes) and its errors are within the
// format's bound.
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
  double max_rel = 0.0;      // max_abs_err / max_abs_expected (NUMERICS.md's max_rel)
  double cosine = 1.0;       // of actual and expected as vectors
  int64_t nonfinite_actual = 0;    // NaN or Inf
  int64_t nonfinite_expected = 0;
  bool bitwise_equal = false;      // same values element for element (NaN never equal)
};

ErrorMetrics compare(const std::vector<double>& actual, const std::vector<double>& expected);

// A contiguous host tensor of fp32 / bf16 / fp16 as doubles.
std::vector<double> to_doubles(const TensorView& view);

// A pass bound: rel_l2 <= rel_l2 and, when max_rel > 0, max_abs_err / max|expected| <= max_rel.
struct Bound {
  double rel_l2 = 0.0;
  double max_rel = 0.0;
};

// Bounds per weight format:
//  * vs_reference: a backend against the CPU reference, which takes the same rounding and
//    quantization steps; only accumulation order differs. From docs/NUMERICS.md ("Tolerances"):
//    A16 paths (bf16, mxfp4, nvfp4 weights) 4e-3 / 1.6e-2, FP8 activations 3e-3 / 3e-2.
//  * vs_exact: the library against the double-precision evaluation with unquantized activations
//    (exact_moe.h). The gap is the rounding the library applies on purpose: bf16 intermediate
//    and output (measured ~3e-3 rel L2 on every preset), fp8 activation quantization (measured
//    ~4-5e-2). Bounds: 1e-2 for A16 paths, 8e-2 for FP8 activations; max_rel not checked.
struct Tolerance {
  Bound vs_reference;
  Bound vs_exact;
};
Tolerance tolerance_for(WeightFormat format);

struct Verdict {
  bool pass = false;
  std::string reason;  // "rel L2 3.1e-03 <= 1.0e-02", "2 NaN/Inf in the result, ...", ...
};
Verdict judge(const ErrorMetrics& metrics, const Bound& bound);

}  // namespace fusedmoe::tools
