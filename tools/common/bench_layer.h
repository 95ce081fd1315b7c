// A benchmark layer on the GPU: a preset's bf16 expert weights (all local experts) and router
// biases, generated on the device (device_random.h) and prepared for the sm90 backend, plus
// per-token-count input sets. Values follow the Triton peer: weights N(0, 1) · 0.02, hidden
// states N(0, 1), router logits N(0, 1) fp32; biases where the preset has them, N(0, 1) · 0.02.
#pragma once

#include <cstdint>
#include <vector>

#include "common/device_memory.h"
#include "common/presets.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

constexpr float kBenchWeightStddev = 0.02f;

class BenchLayer {
 public:
  // `spec.moe.weight_format` must be bf16. Allocates, fills and prepares on the current device.
  BenchLayer(const LayerSpec& spec, uint64_t seed, Stream stream);

  const LayerSpec& spec() const { return spec_; }
  const MoeConfig& moe() const { return spec_.moe; }
  const ExpertWeights& weights() const { return weights_; }
  // The preset's selection bias / logits bias, absent when it has none.
  TensorView correction_bias() const { return correction_bias_; }
  TensorView logits_bias() const { return logits_bias_; }
  uint64_t seed() const { return seed_; }

  // Device bytes a layer of `spec` allocates (weights, biases).
  static size_t device_bytes(const LayerSpec& spec);

 private:
  TensorView generate(DType dtype, std::initializer_list<int64_t> shape, uint64_t tensor_id,
                      float stddev, Stream stream);

  LayerSpec spec_;
  uint64_t seed_;
  DeviceTensors tensors_;
  ExpertWeights weights_;
  TensorView correction_bias_;
  TensorView logits_bias_;
};

// One input set of M tokens: hidden states and logits generated, ids / weights routed into
// place by the caller (outside any timed region), an output to write.
struct BenchInputs {
  TensorView hidden_states;  // bf16 [M, H]
  TensorView router_logits;  // fp32 [M, E]
  TensorView topk_ids;       // int32 [M, top_k]
  TensorView topk_weights;   // fp32 [M, top_k]
  TensorView output;         // bf16 [M, H]
};

// Device bytes of one input set.
size_t bench_inputs_bytes(const MoeConfig& moe, int64_t tokens);

// Allocates in `tensors` and fills hidden states and logits; the stream of set `set` at M tokens
// is its own, so a set's values do not depend on which other sets or M exist.
BenchInputs make_bench_inputs(DeviceTensors& tensors, const BenchLayer& layer, int64_t tokens,
                              int32_t set, Stream stream);

// Distinct local experts that the int32 ids on the device select (copies them to the host).
int64_t count_experts_hit(const MoeConfig& moe, const TensorView& topk_ids);

}  // namespace fusedmoe::tools
