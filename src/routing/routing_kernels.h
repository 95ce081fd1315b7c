// Launchers of the routing kernels (src/routing/*.cu). Plain parameter structs, no TensorView:
// src/routing/route.cu unpacks the validated views and picks the launcher.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fusedmoe/config.h"

namespace fusedmoe::cuda {

// One routing call: logits [num_tokens, num_experts] (row stride in elements, inner contiguous)
// -> topk_ids int32 / topk_weights fp32 [num_tokens, top_k] (+ optional int16/int32 capture).
struct TopKRoutingParams {
  const void* logits = nullptr;
  bool logits_bf16 = false;  // bf16 or fp32, read natively
  int64_t logits_row_stride = 0;
  const void* logits_bias = nullptr;  // optional [E], added to the logits before anything else
  bool logits_bias_bf16 = false;
  const void* correction_bias = nullptr;  // optional [E], selection-only (grouped sigmoid)
  bool correction_bias_bf16 = false;

  int32_t num_tokens = 0;
  int32_t num_experts = 0;
  int32_t top_k = 0;
  RoutingMethod method = RoutingMethod::kSoftmaxTopK;
  bool renormalize = true;
  int32_t n_group = 1;
  int32_t topk_group = 1;

  int32_t* topk_ids = nullptr;
  int64_t ids_row_stride = 0;
  float* topk_weights = nullptr;
  int64_t weights_row_stride = 0;
  void* routed_experts_out = nullptr;  // optional capture of the ids
  bool routed_experts_int16 = false;
  int64_t routed_experts_row_stride = 0;
};

// True when the kernel can run this configuration (E <= 1024, top_k <= 32, top_k <= E).
bool topk_routing_supports(int32_t num_experts, int32_t top_k);

// Enqueues the routing of all tokens on `stream`. Throws fusedmoe::Error kCuda on a launch error.
void launch_topk_routing(const TopKRoutingParams& params, cudaStream_t stream);

}  // namespace fusedmoe::cuda
