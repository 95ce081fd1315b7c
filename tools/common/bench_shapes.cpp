#include "common/bench_shapes.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/presets.h"
#include "common/tool_error.h"

namespace fusedmoe::tools {
namespace {

constexpr int64_t kMaxTokens = int64_t{1} << 20;
constexpr int64_t kMaxTp = 1024;

std::vector<std::string> split_commas(const std::string& list, const char* option) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos
                                                                           : comma - start);
    if (item.empty()) {
      throw UsageError(std::string(option) + " '" + list + "': empty entry in the comma-separated list");
    }
    items.push_back(item);
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

// Whole decimal integer in [minimum, maximum], or -1.
int64_t parse_bounded(const std::string& text, int64_t minimum, int64_t maximum) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || value < minimum || value > maximum) return -1;
  return value;
}

}  // namespace

std::string BenchShape::label() const {
  return tp > 1 ? model + "@tp" + std::to_string(tp) : model;
}

std::vector<BenchShape> default_bench_shapes() {
  return {{"deepseek-v3", 1}, {"deepseek-v3", 8}, {"qwen3-30b-a3b", 1}, {"mixtral-8x7b", 1},
          {"minimax-m2", 1}};
}

std::vector<BenchShape> parse_bench_shapes(const std::string& list, int32_t default_tp) {
  std::vector<BenchShape> shapes;
  for (const std::string& item : split_commas(list, "--model")) {
    BenchShape shape;
    shape.tp = default_tp;
    const size_t at = item.find('@');
    shape.model = item.substr(0, at);
    if (at != std::string::npos) {
      const std::string suffix = item.substr(at + 1);
      const int64_t tp = suffix.rfind("tp", 0) == 0 ? parse_bounded(suffix.substr(2), 1, kMaxTp) : -1;
      if (tp < 0) {
        throw UsageError("--model '" + item + "': expected NAME or NAME@tpN with N in [1, " +
                         std::to_string(kMaxTp) + "]");
      }
      shape.tp = static_cast<int32_t>(tp);
    }
    try {
      Parallelism parallelism;
      parallelism.tp = shape.tp;
      slice_preset(find_preset(shape.model), parallelism);
    } catch (const UsageError& error) {
      throw UsageError("--model '" + item + "': " + error.what());
    }
    const bool repeated = std::any_of(shapes.begin(), shapes.end(), [&](const BenchShape& other) {
      return other.model == shape.model && other.tp == shape.tp;
    });
    if (repeated) throw UsageError("--model '" + list + "': " + shape.label() + " given twice");
    shapes.push_back(shape);
  }
  return shapes;
}

std::vector<int32_t> parse_token_list(const std::string& list) {
  std::vector<int32_t> tokens;
  for (const std::string& item : split_commas(list, "--tokens")) {
    const int64_t value = parse_bounded(item, 1, kMaxTokens);
    if (value < 0) {
      throw UsageError("--tokens '" + item + "': expected an integer in [1, " +
                       std::to_string(kMaxTokens) + "]");
    }
    if (std::find(tokens.begin(), tokens.end(), value) != tokens.end()) {
      throw UsageError("--tokens '" + list + "': " + item + " given twice");
    }
    tokens.push_back(static_cast<int32_t>(value));
  }
  return tokens;
}

std::vector<int32_t> default_bench_tokens() { return {1, 8, 64, 256, 1024, 4096, 16384}; }

BenchEntry parse_bench_entry(const std::string& name) {
  if (name == "routed") return BenchEntry::kRouted;
  if (name == "fused") return BenchEntry::kFused;
  throw UsageError("--entry '" + name + "': expected routed|fused");
}

const char* bench_entry_name(BenchEntry entry) {
  return entry == BenchEntry::kRouted ? "routed" : "fused";
}

}  // namespace fusedmoe::tools
