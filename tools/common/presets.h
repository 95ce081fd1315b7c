// Model presets: the MoE layer shapes and routing/activation semantics of real models, so the tool,
// the tests and the benchmarks run the shapes users run. Each preset names where its numbers come
// from (the shapes table of the design brief's pain_points.md §1 and the configs cited there).
#pragma once

#include <string>
#include <vector>

#include "fusedmoe/config.h"

namespace fusedmoe::tools {

struct ModelPreset {
  std::string name;  // command-line name, e.g. "qwen3-30b-a3b"
  int32_t hidden_size = 0;
  int32_t intermediate_size = 0;  // one routed expert, before tensor-parallel slicing
  int32_t num_experts = 0;        // routed experts (shared experts are not part of the layer)
  int32_t top_k = 0;
  RoutingConfig routing;
  Activation activation = Activation::kSwiGLU;
  ActivationParams activation_params;
  GateUpLayout gate_up_layout = GateUpLayout::kGateThenUp;
  RouterWeightApply router_weight_apply = RouterWeightApply::kOnOutput;
  bool correction_bias = false;  // sigmoid selection bias (e_score_correction_bias)
  bool logits_bias = false;      // router Linear bias added to the logits (gpt-oss)
  bool expert_biases = false;    // biases on both expert GEMMs (gpt-oss)
  std::string shared_expert;     // what the model adds outside the routed layer, or "none"
  std::string source;            // where the numbers were checked
};

const std::vector<ModelPreset>& model_presets();

// Throws UsageError "unknown model 'x'; known: a, b, ..." for a name that is not a preset.
const ModelPreset& find_preset(const std::string& name);

// One-line routing description for tables: "sigmoid+bias, groups 8/4, renorm, rsf 2.5".
std::string routing_summary(const ModelPreset& preset);
// "swiglu", "swiglu_oai a=1.702 limit=7 interleaved +bias", "relu2 (non-gated)".
std::string activation_summary(const ModelPreset& preset);

// How one rank holds the layer.
struct Parallelism {
  int32_t tp = 1;       // tensor parallel: each rank holds I / tp of every expert
  int32_t ep = 1;       // expert parallel: each rank holds E / ep experts
  int32_t ep_rank = 0;  // which block of experts: [ep_rank * E/ep, (ep_rank + 1) * E/ep)
};

// A preset as one rank runs it, plus what the random layer must generate for it.
struct LayerSpec {
  std::string model;
  Parallelism parallelism;
  MoeConfig moe;  // weight format bf16 until the caller picks one (see weight_formats.h)
  RoutingConfig routing;
  bool correction_bias = false;
  bool logits_bias = false;
  bool expert_biases = false;
};

// Slices the preset for `parallelism`. Throws UsageError naming --tp, --ep or --ep-rank when the
// split is not exact (I % tp, E % ep) or out of range.
LayerSpec slice_preset(const ModelPreset& preset, const Parallelism& parallelism);

}  // namespace fusedmoe::tools
