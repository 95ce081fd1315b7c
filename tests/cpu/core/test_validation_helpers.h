// Helpers of the validation tests: valid argument sets for every entry point (each test breaks
// exactly one thing), tensor factories for host memory and for "CUDA" views with fake pointers,
// and an error matcher.
//
// Fake CUDA pointers are addresses nothing is mapped at: validation reads view metadata only, so
// if it ever dereferenced one the test would crash instead of passing.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "fusedmoe/moe.h"

namespace fusedmoe::testing {

// Makes views on one device. CPU views own zeroed host memory (freed with the factory); CUDA
// views get distinct, 256-byte aligned fake addresses.
class TensorFactory {
 public:
  explicit TensorFactory(Device device) : device_(device) {}

  TensorView make(DType dtype, std::initializer_list<int64_t> shape) {
    int64_t count = 1;
    for (int64_t extent : shape) count *= extent;
    const size_t bytes = static_cast<size_t>(count) * dtype_size(dtype);
    return make_view(allocate(bytes), dtype, shape, device_);
  }

  TensorView strided(DType dtype, std::initializer_list<int64_t> shape,
                     std::initializer_list<int64_t> strides, size_t bytes) {
    return make_strided_view(allocate(bytes), dtype, shape, strides, device_);
  }

  const Device& device() const { return device_; }

 private:
  void* allocate(size_t bytes) {
    const size_t rounded = (bytes + 255) / 256 * 256 + 256;
    if (device_.type == DeviceType::kCUDA) {
      // Far from anything the test process maps; only ever compared, never read.
      const uintptr_t address = kFakeBase + next_fake_offset_;
      next_fake_offset_ += rounded;
      return reinterpret_cast<void*>(address);
    }
    buffers_.emplace_back(static_cast<unsigned char*>(std::aligned_alloc(256, rounded)));
    std::fill_n(buffers_.back().get(), rounded, 0);
    return buffers_.back().get();
  }

  struct FreeDeleter {
    void operator()(unsigned char* pointer) const { std::free(pointer); }
  };
  static constexpr uintptr_t kFakeBase = uintptr_t{0x7e0000000000};
  Device device_;
  uintptr_t next_fake_offset_ = 0;
  std::vector<std::unique_ptr<unsigned char, FreeDeleter>> buffers_;
};

// H = 256, I = 128, E = 8, top_k = 2, SwiGLU, bf16.
inline MoeConfig small_moe() {
  MoeConfig moe;
  moe.hidden_size = 256;
  moe.intermediate_size = 128;
  moe.num_experts = 8;
  moe.top_k = 2;
  return moe;
}

inline MoePlan cpu_plan(const MoeConfig& moe = small_moe(), const RoutingConfig& routing = {}) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  return make_plan(moe, routing, options);
}

inline MoePlan cuda_plan(const MoeConfig& moe = small_moe(), const RoutingConfig& routing = {},
                         int32_t max_num_tokens = 64) {
  PlanOptions options;
  options.backend = Backend::kCudaSm90;
  options.max_num_tokens = max_num_tokens;
  return make_plan(moe, routing, options);
}

constexpr int64_t kTokens = 4;

// Valid weights of the plan's format and layout (checkpoint on CPU, prepared on CUDA).
inline ExpertWeights make_weights(TensorFactory& tensors, const MoePlan& plan) {
  const MoeConfig& moe = plan.moe;
  const int64_t el = moe.local_experts(), h = moe.hidden_size, i = moe.intermediate_size;
  const int64_t n1 = activation_is_gated(moe.activation) ? 2 * i : i;
  ExpertWeights weights;
  weights.layout = plan.options.backend == Backend::kCudaSm90 ? WeightLayout::kSm90Prepared
                                                              : WeightLayout::kCheckpoint;
  auto ceil128 = [](int64_t value) { return (value + 127) / 128; };
  switch (moe.weight_format) {
    case WeightFormat::kBF16:
      weights.w13 = tensors.make(DType::kBFloat16, {el, n1, h});
      weights.w2 = tensors.make(DType::kBFloat16, {el, h, i});
      break;
    case WeightFormat::kFP8PerTensor:
      weights.w13 = tensors.make(DType::kFloat8E4M3, {el, n1, h});
      weights.w2 = tensors.make(DType::kFloat8E4M3, {el, h, i});
      weights.w13_scale = tensors.make(DType::kFloat32, {el});
      weights.w2_scale = tensors.make(DType::kFloat32, {el});
      break;
    case WeightFormat::kFP8Block128:
      weights.w13 = tensors.make(DType::kFloat8E4M3, {el, n1, h});
      weights.w2 = tensors.make(DType::kFloat8E4M3, {el, h, i});
      weights.w13_scale = tensors.make(DType::kFloat32, {el, ceil128(n1), ceil128(h)});
      weights.w2_scale = tensors.make(DType::kFloat32, {el, ceil128(h), ceil128(i)});
      break;
    case WeightFormat::kMXFP4:
      weights.w13 = tensors.make(DType::kFloat4E2M1x2, {el, n1, h / 2});
      weights.w2 = tensors.make(DType::kFloat4E2M1x2, {el, h, i / 2});
      weights.w13_scale = tensors.make(DType::kUE8M0, {el, n1, h / 32});
      weights.w2_scale = tensors.make(DType::kUE8M0, {el, h, i / 32});
      break;
    case WeightFormat::kNVFP4:
      weights.w13 = tensors.make(DType::kFloat4E2M1x2, {el, n1, h / 2});
      weights.w2 = tensors.make(DType::kFloat4E2M1x2, {el, h, i / 2});
      weights.w13_scale = tensors.make(DType::kFloat8E4M3, {el, n1, h / 16});
      weights.w2_scale = tensors.make(DType::kFloat8E4M3, {el, h, i / 16});
      weights.w13_global_scale = tensors.make(DType::kFloat32, {el});
      weights.w2_global_scale = tensors.make(DType::kFloat32, {el});
      break;
  }
  if (moe.activation_quant == ActivationQuant::kFP8PerTensor) {
    weights.a1_scale = tensors.make(DType::kFloat32, {1});
    weights.a2_scale = tensors.make(DType::kFloat32, {el});
  }
  return weights;
}

inline Workspace workspace_for(TensorFactory& tensors, const MoePlan& plan) {
  if (plan.workspace_bytes == 0) return Workspace{};
  const TensorView buffer =
      tensors.make(DType::kUInt8, {static_cast<int64_t>(plan.workspace_bytes)});
  return Workspace{buffer.data, plan.workspace_bytes};
}

struct RouteArgs {
  RoutingInputs inputs;
  TensorView topk_ids;
  TensorView topk_weights;
  Workspace workspace;
};

inline RouteArgs route_args(TensorFactory& tensors, const MoePlan& plan) {
  RouteArgs args;
  args.inputs.router_logits = tensors.make(DType::kFloat32, {kTokens, plan.moe.num_experts});
  args.topk_ids = tensors.make(DType::kInt32, {kTokens, plan.moe.top_k});
  args.topk_weights = tensors.make(DType::kFloat32, {kTokens, plan.moe.top_k});
  args.workspace = workspace_for(tensors, plan);
  return args;
}

struct FusedArgs {
  FusedInputs inputs;
  ExpertWeights weights;
  TensorView output;
  Workspace workspace;
};

inline FusedArgs fused_args(TensorFactory& tensors, const MoePlan& plan) {
  FusedArgs args;
  const int64_t h = plan.moe.hidden_size;
  args.inputs.hidden_states = tensors.make(DType::kBFloat16, {kTokens, h});
  args.inputs.routing.router_logits =
      tensors.make(DType::kBFloat16, {kTokens, plan.moe.num_experts});
  args.weights = make_weights(tensors, plan);
  args.output = tensors.make(DType::kBFloat16, {kTokens, h});
  args.workspace = workspace_for(tensors, plan);
  return args;
}

struct RoutedArgs {
  RoutedInputs inputs;
  ExpertWeights weights;
  TensorView output;
  Workspace workspace;
};

inline RoutedArgs routed_args(TensorFactory& tensors, const MoePlan& plan) {
  RoutedArgs args;
  const int64_t h = plan.moe.hidden_size;
  args.inputs.hidden_states = tensors.make(DType::kBFloat16, {kTokens, h});
  args.inputs.topk_ids = tensors.make(DType::kInt64, {kTokens, plan.moe.top_k});
  args.inputs.topk_weights = tensors.make(DType::kFloat32, {kTokens, plan.moe.top_k});
  args.weights = make_weights(tensors, plan);
  args.output = tensors.make(DType::kBFloat16, {kTokens, h});
  args.workspace = workspace_for(tensors, plan);
  return args;
}

struct DispatchArgs {
  TensorView topk_ids;
  int32_t row_alignment = 16;
  DispatchMaps maps;
  TensorView hidden_states;
  TensorView permuted_hidden;
  TensorView permuted_hidden_scale;
  Workspace workspace;
  int64_t rows = 0;
};

// With the row gather into a bf16 permuted buffer.
inline DispatchArgs dispatch_args(TensorFactory& tensors, const MoePlan& plan) {
  DispatchArgs args;
  const int64_t k = plan.moe.top_k, el = plan.moe.local_experts(), h = plan.moe.hidden_size;
  args.rows = kTokens * k + el * (args.row_alignment - 1);
  args.topk_ids = tensors.make(DType::kInt32, {kTokens, k});
  args.maps.expert_offsets = tensors.make(DType::kInt32, {el + 1});
  args.maps.expert_counts = tensors.make(DType::kInt32, {el});
  args.maps.row_to_slot = tensors.make(DType::kInt32, {args.rows});
  args.maps.slot_to_row = tensors.make(DType::kInt32, {kTokens, k});
  args.hidden_states = tensors.make(DType::kBFloat16, {kTokens, h});
  args.permuted_hidden = tensors.make(DType::kBFloat16, {args.rows, h});
  args.workspace = workspace_for(tensors, plan);
  return args;
}

struct ExpertsArgs {
  ExpertsInputs inputs;
  ExpertWeights weights;
  TensorView expert_output;
  Workspace workspace;
};

constexpr int64_t kExpertRows = 64;

// Contiguous layout, bf16 rows.
inline ExpertsArgs experts_args(TensorFactory& tensors, const MoePlan& plan) {
  ExpertsArgs args;
  const int64_t el = plan.moe.local_experts(), h = plan.moe.hidden_size;
  args.inputs.hidden_states = tensors.make(DType::kBFloat16, {kExpertRows, h});
  args.inputs.expert_offsets = tensors.make(DType::kInt32, {el + 1});
  args.weights = make_weights(tensors, plan);
  args.expert_output = tensors.make(DType::kBFloat16, {kExpertRows, h});
  args.workspace = workspace_for(tensors, plan);
  return args;
}

struct CombineArgs {
  CombineInputs inputs;
  TensorView output;
};

inline CombineArgs combine_args(TensorFactory& tensors, const MoePlan& plan) {
  CombineArgs args;
  const int64_t k = plan.moe.top_k, h = plan.moe.hidden_size;
  args.inputs.expert_output = tensors.make(DType::kBFloat16, {kExpertRows, h});
  args.inputs.slot_to_row = tensors.make(DType::kInt32, {kTokens, k});
  args.inputs.topk_weights = tensors.make(DType::kFloat32, {kTokens, k});
  args.output = tensors.make(DType::kBFloat16, {kTokens, h});
  return args;
}

// Runs `call`, which must throw fusedmoe::Error of `kind` whose message contains every fragment
// (the argument's quoted name, the expected and the given value).
template <typename Call>
void expect_error(Call&& call, ErrorKind kind, std::initializer_list<std::string> fragments) {
  try {
    call();
  } catch (const Error& error) {
    EXPECT_EQ(static_cast<int>(error.kind()), static_cast<int>(kind)) << error.what();
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message lacks \"" << fragment << "\": " << message;
    }
    return;
  }
  ADD_FAILURE() << "expected a fusedmoe::Error, none was thrown";
}

template <typename Call>
void expect_invalid(Call&& call, std::initializer_list<std::string> fragments) {
  expect_error(call, ErrorKind::kInvalidArgument, fragments);
}

}  // namespace fusedmoe::testing
