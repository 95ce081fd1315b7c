// FP8 e4m3 quantization of one activation row, as a GEMM input sees it: dispatch (the permuted
// rows it writes), GEMM1's input and GEMM2's input (the intermediate) all go through here, so every
// stage quantizes activations identically.
#pragma once

#include <cstdint>
#include <vector>

#include "fusedmoe/config.h"

namespace fusedmoe::reference {

struct Fp8Row {
  std::vector<uint8_t> codes;  // e4m3, one per column
  std::vector<float> scales;   // one per `group` columns (dequantization multipliers)
  int64_t group = 1;

  // The real value the GEMM multiplies: e4m3 value times its scale (exact in double).
  double value(int64_t column) const;
};

// quant: kFP8PerTensor uses `static_scale` (q = e4m3(x / static_scale), computed in fp32);
// kFP8PerToken one dynamic scale for the row; kFP8Group128 one per 128 columns. Dynamic scales are
// amax / 448, rounded up to a power of two with ScaleFormat::kUE8M0. kNone is not a quantization
// and is rejected.
Fp8Row quantize_activation_row(const float* row, int64_t columns, ActivationQuant quant,
                               ScaleFormat scale_format, float static_scale);

// The row after quantization and dequantization (x̂), for GEMM inputs.
std::vector<double> fake_quantize_activation_row(const std::vector<float>& row, ActivationQuant quant,
                                                 ScaleFormat scale_format, float static_scale);

}  // namespace fusedmoe::reference
