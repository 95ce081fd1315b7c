// What `fusedmoe run` was asked to do, parsed and checked (unknown model, bad --tp, ...
// throw tools::UsageError before anything is generated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/layer_runner.h"
#include "common/presets.h"

namespace fusedmoe::cli {

struct RunRequest {
  tools::LayerSpec spec;  // sliced for --tp/--ep, weight format applied
  WeightFormat format = WeightFormat::kBF16;
  int32_t tokens = 0;
  uint64_t seed = 0;
  tools::DeviceRequest device = tools::DeviceRequest::kAuto;
  LogitsDType logits_dtype = LogitsDType::kFloat32;
  bool all_experts = false;  // generate every local expert (always on for CUDA)
  int32_t iterations = 20;   // timed CUDA iterations
};

RunRequest parse_run_request(const std::vector<std::string>& args);

}  // namespace fusedmoe::cli
