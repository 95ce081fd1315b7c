// `fusedmoe models [--tp N] [--ep N]`: the preset table, sliced the way one rank holds it.
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "common/presets.h"
#include "common/tool_error.h"

namespace fusedmoe::cli {

namespace {

using Row = std::vector<std::string>;

// Left-aligned columns as wide as their widest cell; numeric columns (`right_aligned`) flush right.
void print_table(const std::vector<Row>& rows, size_t right_aligned_columns) {
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const Row& row : rows) {
    for (size_t column = 0; column < row.size(); ++column) {
      widths[column] = std::max(widths[column], row[column].size());
    }
  }
  for (const Row& row : rows) {
    std::string line;
    for (size_t column = 0; column < row.size(); ++column) {
      const bool right = column > 0 && column <= right_aligned_columns;
      const std::string padding(widths[column] - row[column].size(), ' ');
      line += right ? padding + row[column] : row[column] + padding;
      if (column + 1 < row.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace

int models_command(const std::vector<std::string>& args) {
  const Options options(args, {"tp", "ep"}, {});
  tools::Parallelism parallelism;
  parallelism.tp = static_cast<int32_t>(options.get_int("tp", 1, 1, 1024));
  parallelism.ep = static_cast<int32_t>(options.get_int("ep", 1, 1, 1024));

  std::printf("fusedmoe model presets: the routed-expert layer of each model, as one rank holds it "
              "at --tp %d --ep %d\n",
              parallelism.tp, parallelism.ep);
  std::printf("(I = per-expert intermediate size after --tp; E = routed experts, [local] after "
              "--ep; shared experts run outside the layer)\n\n");

  std::vector<Row> rows = {
      {"name", "H", "I", "E", "top-k", "routing", "activation", "shared expert", "source"}};
  std::vector<std::string> problems;
  for (const tools::ModelPreset& preset : tools::model_presets()) {
    std::string inter = "-";
    std::string experts = std::to_string(preset.num_experts);
    try {
      const tools::LayerSpec spec = tools::slice_preset(preset, parallelism);
      inter = std::to_string(spec.moe.intermediate_size);
      if (parallelism.ep > 1) experts += " [" + std::to_string(spec.moe.local_experts()) + "]";
    } catch (const tools::UsageError& error) {
      problems.push_back(preset.name + ": " + error.what());
    }
    rows.push_back({preset.name, std::to_string(preset.hidden_size), inter, experts,
                    std::to_string(preset.top_k), tools::routing_summary(preset),
                    tools::activation_summary(preset), preset.shared_expert, preset.source});
  }
  print_table(rows, 4);
  if (!problems.empty()) {
    std::printf("\nnot splittable this way (shown as '-'):\n");
    for (const std::string& problem : problems) std::printf("  %s\n", problem.c_str());
  }
  return kExitPass;
}

}  // namespace fusedmoe::cli
