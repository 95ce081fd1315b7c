#include "common/routing_file.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/tool_error.h"

namespace fusedmoe::tools {

std::string routing_file_path(const std::string& directory, const std::string& shape_label, int64_t tokens) {
  return directory + "/" + shape_label + "_M" + std::to_string(tokens) + ".bin";
}

RoutedIds read_routing_file(const std::string& path, int64_t tokens, int32_t top_k, int32_t num_experts) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw UsageError("routing file '" + path + "': cannot be opened");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t slots = static_cast<size_t>(tokens) * static_cast<size_t>(top_k);
  const size_t expected = slots * (sizeof(int32_t) + sizeof(float));
  if (bytes.size() != expected) {
    throw UsageError("routing file '" + path + "': expected " + std::to_string(expected) + " bytes (int32 ids and fp32 weights, " +
                     std::to_string(tokens) + " tokens x top-" + std::to_string(top_k) + "), got " +
                     std::to_string(bytes.size()));
  }
  RoutedIds routed;
  routed.ids.resize(slots);
  routed.weights.resize(slots);
  std::memcpy(routed.ids.data(), bytes.data(), slots * sizeof(int32_t));
  std::memcpy(routed.weights.data(), bytes.data() + slots * sizeof(int32_t), slots * sizeof(float));
  for (size_t slot = 0; slot < slots; ++slot) {
    const int32_t id = routed.ids[slot];
    if (id < -1 || id >= num_experts) {
      throw UsageError("routing file '" + path + "': id " + std::to_string(id) + " at slot " + std::to_string(slot) +
                       " is outside [-1, " + std::to_string(num_experts) + ")");
    }
  }
  return routed;
}

}  // namespace fusedmoe::tools
