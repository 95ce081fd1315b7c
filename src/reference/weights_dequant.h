// Exact dequantization of one local expert's w13 or w2 into a dense row-major double matrix
// [N, K] (N output features, K = reduction dim), following the table in fusedmoe/weights.h.
#pragma once

#include <cstdint>
#include <vector>

#include "fusedmoe/config.h"
#include "fusedmoe/weights.h"

namespace fusedmoe::reference {

struct DenseMatrix {
  int64_t rows = 0;  // N
  int64_t cols = 0;  // K
  std::vector<double> values;

  const double* row(int64_t r) const { return values.data() + r * cols; }
};

enum class WhichMatrix { kW13, kW2 };

// `cols` is the logical K (packed fp4 tensors store K/2 bytes per row).
DenseMatrix dequantize_expert_matrix(WeightFormat format, const ExpertWeights& weights,
                                     WhichMatrix which, int64_t local_expert, int64_t cols);

}  // namespace fusedmoe::reference
