// A seeded random MoE layer in any weight format: hidden states, router logits (+ biases), and the
// expert weights quantized with the format's own quantizer (src/reference/quantize.h).
//
// Values are scaled like a real layer: hidden states ~ N(0, 1) in bf16; weights ~ N(0, 1/K) so
// each GEMM keeps unit scale; logits ~ N(0, 1) plus a per-expert popularity offset ~ N(0, 1), so
// routing is skewed the way trained routers are (some experts hot, some cold).
//
// Every expert comes from its own random stream keyed by (seed, global expert id), so any expert
// can be generated alone and is identical across EP splits. A --tp slice is generated at its own
// shape (it is not a slice of the --tp 1 expert). Weight tensors are allocated for all
// local experts but stay untouched (uncommitted zero pages) until an expert is generated: a CPU
// run generates only the experts routing selects, a GPU run generates them all.
#pragma once

#include <cstdint>
#include <vector>

#include "common/host_buffer.h"
#include "common/presets.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

class RandomLayer {
 public:
  // `spec.moe.weight_format` / `activation_quant` must already be set (apply_weight_format).
  // Generates the inputs now; expert weights stay zero until generate_*.
  RandomLayer(const LayerSpec& spec, int32_t num_tokens, uint64_t seed,
              LogitsDType logits_dtype = LogitsDType::kFloat32);

  const LayerSpec& spec() const { return spec_; }
  const MoeConfig& moe() const { return spec_.moe; }
  int32_t num_tokens() const { return num_tokens_; }
  uint64_t seed() const { return seed_; }

  // Generates (once) the weights of a local expert, by global id. Throws UsageError for an id
  // outside this rank's range. Several experts are generated on all hardware threads; the
  // result does not depend on the thread count.
  void generate_expert(int32_t global_expert);
  void generate_experts(const std::vector<int32_t>& global_experts);
  void generate_all_experts();
  bool expert_generated(int32_t global_expert) const;
  int32_t generated_expert_count() const;

  // kFP8PerTensor only: the static dequantization scale of GEMM2's input (intermediate
  // activation). a1 (GEMM1's input) is set from the hidden states' amax at construction; a2 must
  // be calibrated from the layer's intermediate activations (it starts as NaN so that a run
  // that forgot it fails loudly).
  void set_intermediate_scale(float a2);
  float input_scale() const;  // a1, or 0 when the format has no static scales

  TensorView hidden_states() const { return hidden_.view; }
  RoutingInputs routing_inputs() const;
  const ExpertWeights& weights() const { return weights_; }

  // Bytes of one local expert across every weight tensor (values, scales, biases).
  double weight_bytes_per_expert() const;

 private:
  void allocate_weights();
  void generate_inputs();
  int32_t local_index(int32_t global_expert) const;  // throws UsageError when not local
  // Fills one local expert; `master` is the caller's fp32 scratch (one per thread).
  void fill_expert(int32_t global_expert, std::vector<float>& master);
  void quantize_matrix(const std::vector<float>& master, int64_t rows, int64_t cols,
                       int32_t local_expert, bool is_w13);

  LayerSpec spec_;
  int32_t num_tokens_;
  uint64_t seed_;
  LogitsDType logits_dtype_;

  HostTensor hidden_;
  HostTensor logits_;
  HostTensor correction_bias_;
  HostTensor logits_bias_;
  HostTensor w13_, w2_, w13_scale_, w2_scale_, w13_global_scale_, w2_global_scale_;
  HostTensor w13_bias_, w2_bias_, a1_scale_, a2_scale_;
  ExpertWeights weights_;

  std::vector<char> generated_;  // per local expert (each written by one thread only)
};

}  // namespace fusedmoe::tools
