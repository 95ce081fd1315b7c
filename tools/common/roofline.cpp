#include "common/roofline.h"

#include <vector>

namespace fusedmoe::tools {

Ceilings h100_reference_ceilings() {
  Ceilings ceilings;
  ceilings.name = "H100 reference ceilings";
  ceilings.read_bytes_per_second = 3.10e12;
  ceilings.bf16_flops_per_second = 790e12;
  ceilings.fp8_flops_per_second = 1450e12;
  return ceilings;
}

Traffic layer_traffic(const MoeConfig& moe, const int32_t* ids, int64_t num_tokens,
                      double weight_bytes_per_expert, double logits_bytes_per_element) {
  const int64_t local_experts = moe.local_experts();
  std::vector<char> hit(static_cast<size_t>(local_experts), 0);
  Traffic traffic;
  for (int64_t i = 0; i < num_tokens * moe.top_k; ++i) {
    const int64_t local = static_cast<int64_t>(ids[i]) - moe.local_expert_offset;
    if (ids[i] < 0 || local < 0 || local >= local_experts) continue;
    ++traffic.local_rows;
    if (!hit[static_cast<size_t>(local)]) {
      hit[static_cast<size_t>(local)] = 1;
      ++traffic.experts_hit;
    }
  }
  const double hidden = moe.hidden_size;
  const double inter = moe.intermediate_size;
  const double n1 = activation_is_gated(moe.activation) ? 2.0 * inter : inter;
  constexpr double kBf16Bytes = 2.0;
  traffic.weight_bytes = static_cast<double>(traffic.experts_hit) * weight_bytes_per_expert;
  traffic.activation_bytes = 2.0 * static_cast<double>(num_tokens) * hidden * kBf16Bytes;
  traffic.logits_bytes = static_cast<double>(num_tokens) * moe.num_experts * logits_bytes_per_element;
  traffic.flops = 2.0 * static_cast<double>(traffic.local_rows) * (n1 * hidden + hidden * inter);
  return traffic;
}

Floor roofline_floor(const Traffic& traffic, const Ceilings& ceilings, bool fp8_matrix) {
  Floor floor;
  floor.memory_seconds = traffic.total_bytes() / ceilings.read_bytes_per_second;
  const double rate = fp8_matrix ? ceilings.fp8_flops_per_second : ceilings.bf16_flops_per_second;
  floor.compute_seconds = traffic.flops / rate;
  return floor;
}

}  // namespace fusedmoe::tools
