// Routing decisions read from a file, so that `fusedmoe bench --routing-dir` times the routed entry
// on exactly the ids and weights another harness drew: bench/peer_routing.py writes the Triton
// peer's (../shared/peers/triton_moe.py), so that both sides of a comparison read the same experts.
//
// File layout (one file per shape and token count): int32 ids [tokens, top_k], then fp32 weights
// [tokens, top_k], row-major, little-endian, nothing else; named <shape label>_M<tokens>.bin
// (e.g. deepseek-v3@tp8_M8.bin).
#pragma once

#include <cstdint>
#include <string>

#include "common/layer_runner.h"

namespace fusedmoe::tools {

std::string routing_file_path(const std::string& directory, const std::string& shape_label, int64_t tokens);

// Throws UsageError naming the file when it cannot be read or does not hold exactly tokens x top_k
// ids and weights, or when an id is outside [-1, num_experts).
RoutedIds read_routing_file(const std::string& path, int64_t tokens, int32_t top_k, int32_t num_experts);

}  // namespace fusedmoe::tools
