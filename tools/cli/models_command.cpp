// `fusedmoe models [--tp N] [--ep N]`: the preset table, sliced the way one rank holds it.
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "common/presets.h"
#include "common/tool_error.h"

namespace fusedmoe::cli {

int models_command(const std::vector<std::string>& args) {
  const Options options(args, {"tp", "ep"}, {});
  tools::Parallelism parallelism;
  parallelism.tp = static_cast<int32_t>(options.get_int("tp", 1, 1, 1024));
  parallelism.ep = static_cast<int32_t>(options.get_int("ep", 1, 1, 1024));

  std::printf("fusedmoe model presets: the routed-expert layer of each model, as one rank holds it "
              "at --tp %d --ep %d\n",
              parallelism.tp, parallelism.ep);
  std::printf("(I = per-expert intermediate size after --tp; E = routed experts, local ones in "
              "brackets; shared experts run outside the layer)\n\n");
  std::printf("%-16s %5s %6s %10s %5s  %-40s %-40s %-24s %s\n", "name", "H", "I", "E", "top-k",
              "routing", "activation", "shared expert", "source");

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
    std::printf("%-16s %5d %6s %10s %5d  %-40s %-40s %-24s %s\n", preset.name.c_str(),
                preset.hidden_size, inter.c_str(), experts.c_str(), preset.top_k,
                tools::routing_summary(preset).c_str(), tools::activation_summary(preset).c_str(),
                preset.shared_expert.c_str(), preset.source.c_str());
  }
  if (!problems.empty()) {
    std::printf("\nnot splittable this way (shown as '-'):\n");
    for (const std::string& problem : problems) std::printf("  %s\n", problem.c_str());
  }
  return kExitPass;
}

}  // namespace fusedmoe::cli
