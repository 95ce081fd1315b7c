#include "common/bench_figures.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "fusedmoe/error.h"

namespace fusedmoe::tools {

BenchCost bench_cost(const MoeConfig& moe, double experts_hit, int64_t tokens) {
  const double matrices = activation_is_gated(moe.activation) ? 3.0 : 2.0;
  const double hidden = moe.hidden_size;
  const double inter = moe.intermediate_size;
  const double m = static_cast<double>(tokens);
  constexpr double kBf16Bytes = 2.0;
  BenchCost cost;
  cost.bytes = experts_hit * matrices * hidden * inter * kBf16Bytes + m * hidden * 2.0 * kBf16Bytes;
  cost.flops = 2.0 * matrices * m * moe.top_k * hidden * inter;
  return cost;
}

BenchFigures bench_figures(const BenchCost& cost, const Ceilings& ceilings, double seconds) {
  const auto require_positive = [](double value, const char* name) {
    if (!(value > 0.0)) {
      throw Error(ErrorKind::kInvalidArgument, std::string("bench_figures: ") + name +
                                                   ": expected > 0, got " + std::to_string(value));
    }
  };
  require_positive(seconds, "seconds");
  require_positive(ceilings.read_bytes_per_second, "ceilings.read_bytes_per_second");
  require_positive(ceilings.bf16_flops_per_second, "ceilings.bf16_flops_per_second");
  BenchFigures figures;
  figures.memory_seconds = cost.bytes / ceilings.read_bytes_per_second;
  figures.compute_seconds = cost.flops / ceilings.bf16_flops_per_second;
  figures.memory_bound = figures.memory_seconds >= figures.compute_seconds;
  figures.floor_seconds = figures.memory_bound ? figures.memory_seconds : figures.compute_seconds;
  figures.percent_of_floor = figures.floor_seconds / seconds * 100.0;
  figures.tflops = cost.flops / seconds * 1e-12;
  figures.tbytes = cost.bytes / seconds * 1e-12;
  return figures;
}

int32_t bench_rotation_sets(double touched_bytes, double l2_bytes, double set_bytes,
                            double spare_bytes, int32_t max_sets) {
  constexpr double kCacheMultiple = 4.0;
  double sets = touched_bytes > 0.0 ? std::ceil(kCacheMultiple * l2_bytes / touched_bytes) : max_sets;
  sets = std::min(sets, static_cast<double>(max_sets));
  if (set_bytes > 0.0) sets = std::min(sets, std::floor(spare_bytes / set_bytes));
  return static_cast<int32_t>(std::max(sets, 1.0));
}

}  // namespace fusedmoe::tools
