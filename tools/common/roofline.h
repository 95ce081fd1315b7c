// The roofline floor of one MoE layer call: the time it cannot beat on a given GPU.
//   floor = max(bytes / read bandwidth, FLOPs / matrix rate)
//   bytes = weights of the distinct local experts the routing hits (values + scales + biases)
//           + hidden states in + output out (bf16) + router logits
//   FLOPs = 2 * rows * (N1 * H + H * I), rows = (token, slot) pairs routed to a local expert
// Ceilings are measured numbers (the benchmark measures them in the same run); the tool defaults
// to the H100 ceilings measured for the design brief.
#pragma once

#include <cstdint>
#include <string>

#include "fusedmoe/config.h"

namespace fusedmoe::tools {

struct Ceilings {
  std::string name;
  double read_bytes_per_second = 0.0;
  double bf16_flops_per_second = 0.0;
  double fp8_flops_per_second = 0.0;
};

// 3.10 TB/s read stream, 790 TF/s bf16, 1450 TF/s fp8 (pain_points.md §2, measured on an H100).
Ceilings h100_reference_ceilings();

struct Traffic {
  int64_t experts_hit = 0;  // distinct local experts selected
  int64_t local_rows = 0;   // (token, slot) pairs on local experts
  double weight_bytes = 0.0;
  double activation_bytes = 0.0;
  double logits_bytes = 0.0;
  double flops = 0.0;
  double total_bytes() const { return weight_bytes + activation_bytes + logits_bytes; }
};

// `ids`: [num_tokens, top_k] global expert ids as routed (-1 and non-local ids are skipped).
Traffic layer_traffic(const MoeConfig& moe, const int32_t* ids, int64_t num_tokens,
                      double weight_bytes_per_expert, double logits_bytes_per_element);

struct Floor {
  double memory_seconds = 0.0;
  double compute_seconds = 0.0;
  double seconds() const { return memory_seconds > compute_seconds ? memory_seconds : compute_seconds; }
  bool memory_bound() const { return memory_seconds >= compute_seconds; }
};

// fp8_matrix: the GEMMs run on fp8 inputs (W8A8); otherwise bf16 (also W4A16).
Floor roofline_floor(const Traffic& traffic, const Ceilings& ceilings, bool fp8_matrix);

}  // namespace fusedmoe::tools
