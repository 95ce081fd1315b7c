// cuda::route_and_dispatch (the fused pipeline's routing + dispatch, one launch less for decode
// batches) against cuda::route followed by cuda::dispatch on the same inputs: every output must
// be bitwise identical, byte for byte over whole buffers that both sides poison first: ids,
// weights, routed-experts capture, expert_offsets, expert_counts, row_to_slot (all R rows),
// slot_to_row, and with a gather the permuted rows and FP8 scales (the tail past the segments
// stays poisoned on both sides). Covers every routing method on model shapes, fp32 and bf16
// logits, NaN / Inf / all -inf / all NaN rows, EP offsets > 0, row_alignment 1 and 16, maps only,
// bf16 copy and FP8 1x128 gather, and M on both sides of the single-block kernel's limit (the
// fallback is the two calls themselves).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cuda_backend.h"
#include "core/limits.h"
#include "dispatch/route_and_maps_small.h"
#include "gpu_test_common.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

constexpr float kQuietNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr uint8_t kPoison = 0xab;
constexpr int32_t kHidden = 256;

struct Preset {
  const char* name;
  int32_t num_experts;
  int32_t top_k;
  RoutingMethod method;
  bool renormalize;
  int32_t n_group;
  int32_t topk_group;
  bool correction_bias;
  bool logits_bias;
};

const Preset kPresets[] = {
    {"deepseek_v3", 256, 8, RoutingMethod::kSigmoidGroupedTopK, true, 8, 4, true, false},
    {"qwen3_30b", 128, 8, RoutingMethod::kSoftmaxTopK, true, 1, 1, false, false},
    {"mixtral", 8, 2, RoutingMethod::kTopKSoftmax, true, 1, 1, false, false},
    {"gpt_oss", 128, 4, RoutingMethod::kTopKSoftmax, true, 1, 1, false, true},
    {"llama4", 16, 1, RoutingMethod::kLlama4Top1Sigmoid, false, 1, 1, false, false},
    {"sigmoid_odd_e", 100, 5, RoutingMethod::kSigmoidTopK, true, 1, 1, false, true},
    {"qwen3_next", 512, 10, RoutingMethod::kSoftmaxTopK, true, 1, 1, false, false},
    {"nemotron_super", 512, 22, RoutingMethod::kSigmoidGroupedTopK, true, 1, 1, true, false},
    // Groups that do not span whole lanes: the grouped selection's shared-memory path.
    {"grouped_20_groups", 160, 6, RoutingMethod::kSigmoidGroupedTopK, false, 20, 3, true, false},
    {"grouped_64_groups", 1024, 32, RoutingMethod::kSigmoidGroupedTopK, true, 64, 16, true, false},
};

enum class Gather { kNone, kBf16, kFp8Group128 };

struct Case {
  std::string name;
  Preset preset;
  DType logits_dtype = DType::kFloat32;
  int32_t tokens = 1;
  int32_t row_alignment = 1;
  bool ep = false;  // local experts [E/4, 3E/4)
  Gather gather = Gather::kNone;
  bool capture_int16 = false;
};

MoePlan case_plan(const Case& c) {
  MoeConfig moe;
  moe.hidden_size = kHidden;
  moe.intermediate_size = 128;
  moe.num_experts = c.preset.num_experts;
  moe.top_k = c.preset.top_k;
  if (c.ep) {
    moe.local_expert_offset = c.preset.num_experts / 4;
    moe.num_local_experts = c.preset.num_experts / 2;
  }
  if (c.gather == Gather::kFp8Group128) {
    moe.activation_quant = ActivationQuant::kFP8Group128;
    moe.weight_format = WeightFormat::kFP8Block128;
  }
  RoutingConfig routing;
  routing.method = c.preset.method;
  routing.renormalize = c.preset.renormalize;
  routing.n_group = c.preset.n_group;
  routing.topk_group = c.preset.topk_group;
  return stage_plan(moe, routing, c.tokens);
}

// Random logits with the NaN policy's corner rows mixed in.
std::vector<float> make_logits(const Case& c, std::mt19937_64& rng) {
  const int64_t M = c.tokens, E = c.preset.num_experts;
  std::vector<float> logits = random_normal(rng, M * E, 2.0f);
  if (M >= 3) {
    logits[0 * E + E / 2] = kQuietNaN;  // a NaN among finite values
    logits[0 * E + 1] = kQuietNaN;
    logits[1 * E + 0] = kInf;  // +inf clamps to FLT_MAX
    logits[1 * E + E - 1] = -kInf;
    for (int64_t e = 0; e < E; ++e) logits[2 * E + e] = -kInf;  // all -inf
  }
  if (M >= 5) {
    for (int64_t e = 0; e < E; ++e) logits[4 * E + e] = kQuietNaN;  // all NaN
  }
  if (M >= 7) {
    for (int64_t e = 0; e < E; ++e) logits[6 * E + e] = 0.5f;  // all tied
  }
  return logits;
}

// Device buffers of one path, each poisoned before the call.
struct PathBuffers {
  DeviceBuffer ids, weights, capture, offsets, counts, row_to_slot, slot_to_row, permuted, scales;
};

struct Inputs {
  DeviceBuffer logits, correction, bias, hidden;
};

PathBuffers run_path(const Case& c, const MoePlan& plan, const Inputs& in, bool fused) {
  const int64_t M = c.tokens, k = plan.moe.top_k, E = plan.moe.num_experts;
  const int64_t E_l = plan.moe.local_experts();
  const int64_t R = detail::max_dispatch_rows(plan.moe, M, c.row_alignment);
  const int64_t groups = (kHidden + 127) / 128;
  PathBuffers out;
  out.ids = DeviceBuffer(M * k * 4);
  out.weights = DeviceBuffer(M * k * 4);
  out.capture = DeviceBuffer(M * k * (c.capture_int16 ? 2 : 4));
  out.offsets = DeviceBuffer((E_l + 1) * 4);
  out.counts = DeviceBuffer(E_l * 4);
  out.row_to_slot = DeviceBuffer(R * 4);
  out.slot_to_row = DeviceBuffer(M * k * 4);
  out.permuted = DeviceBuffer(R * kHidden * (c.gather == Gather::kFp8Group128 ? 1 : 2));
  out.scales = DeviceBuffer(R * groups * 4);
  for (DeviceBuffer* buffer : {&out.ids, &out.weights, &out.capture, &out.offsets, &out.counts,
                               &out.row_to_slot, &out.slot_to_row, &out.permuted, &out.scales}) {
    buffer->poison(kPoison);
  }

  RoutingInputs routing;
  routing.router_logits = in.logits.view(c.logits_dtype, {M, E});
  if (c.preset.correction_bias) routing.correction_bias = in.correction.view(c.logits_dtype, {E});
  if (c.preset.logits_bias) routing.logits_bias = in.bias.view(c.logits_dtype, {E});
  routing.routed_experts_out =
      out.capture.view(c.capture_int16 ? DType::kInt16 : DType::kInt32, {M, k});
  const TensorView ids = out.ids.view(DType::kInt32, {M, k});
  const TensorView weights = out.weights.view(DType::kFloat32, {M, k});
  DispatchMaps maps;
  maps.expert_offsets = out.offsets.view(DType::kInt32, {E_l + 1});
  maps.expert_counts = out.counts.view(DType::kInt32, {E_l});
  maps.row_to_slot = out.row_to_slot.view(DType::kInt32, {R});
  maps.slot_to_row = out.slot_to_row.view(DType::kInt32, {M, k});
  TensorView hidden, permuted, scales;
  if (c.gather != Gather::kNone) {
    hidden = in.hidden.view(DType::kBFloat16, {M, kHidden});
    if (c.gather == Gather::kFp8Group128) {
      permuted = out.permuted.view(DType::kFloat8E4M3, {R, kHidden});
      scales = out.scales.view(DType::kFloat32, {R, groups});
    } else {
      permuted = out.permuted.view(DType::kBFloat16, {R, kHidden});
    }
  }
  DeviceBuffer workspace(std::max<size_t>(plan.workspace_bytes, 16));
  const Workspace ws{workspace.data(), workspace.bytes()};
  if (fused) {
    cuda::route_and_dispatch(plan, routing, ids, weights, c.row_alignment, maps, hidden, permuted,
                             scales, ws, nullptr);
  } else {
    cuda::route(plan, routing, ids, weights, ws, nullptr);
    cuda::dispatch(plan, ids, c.row_alignment, maps, hidden, permuted, scales, ws, nullptr);
  }
  cuda_or_throw(cudaDeviceSynchronize(), fused ? "route_and_dispatch" : "route + dispatch");
  return out;
}

void expect_same_bytes(const Case& c, const char* what, const DeviceBuffer& got,
                       const DeviceBuffer& want) {
  const std::vector<uint8_t> a = got.download_all<uint8_t>();
  const std::vector<uint8_t> b = want.download_all<uint8_t>();
  ASSERT_EQ(a.size(), b.size()) << c.name << ": " << what;
  const auto mismatch = std::mismatch(a.begin(), a.end(), b.begin());
  EXPECT_TRUE(mismatch.first == a.end())
      << c.name << ": " << what << " differs first at byte " << (mismatch.first - a.begin())
      << " of " << a.size() << " (fused " << int{*mismatch.first} << ", two calls "
      << int{*mismatch.second} << ")";
}

void run_case(const Case& c) {
  std::mt19937_64 rng(case_seed(c.name));
  const MoePlan plan = case_plan(c);
  const int64_t M = c.tokens, E = c.preset.num_experts;
  Inputs in;
  in.logits = DeviceBuffer::from(encode_floats(make_logits(c, rng), c.logits_dtype));
  in.correction = DeviceBuffer::from(encode_floats(random_normal(rng, E, 0.1f), c.logits_dtype));
  in.bias = DeviceBuffer::from(encode_floats(random_normal(rng, E, 0.5f), c.logits_dtype));
  in.hidden = DeviceBuffer::from(encode_floats(random_normal(rng, M * kHidden, 1.5f),
                                               DType::kBFloat16));

  const PathBuffers fused = run_path(c, plan, in, true);
  const PathBuffers two_calls = run_path(c, plan, in, false);
  expect_same_bytes(c, "topk_ids", fused.ids, two_calls.ids);
  expect_same_bytes(c, "topk_weights", fused.weights, two_calls.weights);
  expect_same_bytes(c, "routed_experts_out", fused.capture, two_calls.capture);
  expect_same_bytes(c, "expert_offsets", fused.offsets, two_calls.offsets);
  expect_same_bytes(c, "expert_counts", fused.counts, two_calls.counts);
  expect_same_bytes(c, "row_to_slot", fused.row_to_slot, two_calls.row_to_slot);
  expect_same_bytes(c, "slot_to_row", fused.slot_to_row, two_calls.slot_to_row);
  expect_same_bytes(c, "permuted_hidden", fused.permuted, two_calls.permuted);
  expect_same_bytes(c, "permuted_hidden_scale", fused.scales, two_calls.scales);
  // The outputs were written at all (not two untouched poisoned buffers).
  const std::vector<int32_t> offsets =
      fused.offsets.download<int32_t>(static_cast<size_t>(plan.moe.local_experts()) + 1);
  EXPECT_EQ(offsets[0], 0) << c.name;
  const std::vector<int32_t> ids = fused.ids.download<int32_t>(M * c.preset.top_k);
  for (int32_t id : ids) {
    ASSERT_TRUE(id >= 0 && id < E) << c.name << ": id " << id;
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const Preset& preset : kPresets) {
    for (DType dtype : {DType::kFloat32, DType::kBFloat16}) {
      // 300 is past the single-block kernel's token limit for every preset (the fallback).
      for (int32_t tokens : {1, 3, 64, 128, 200, 256, 300}) {
        const std::string base = std::string(preset.name) + "_" +
                                 (dtype == DType::kFloat32 ? "fp32" : "bf16") + "_M" +
                                 std::to_string(tokens);
        Case maps_only;
        maps_only.name = base + "_maps_ep_align16";
        maps_only.preset = preset;
        maps_only.logits_dtype = dtype;
        maps_only.tokens = tokens;
        maps_only.row_alignment = 16;
        maps_only.ep = true;
        maps_only.capture_int16 = true;
        out.push_back(maps_only);

        Case fp8 = maps_only;
        fp8.name = base + "_fp8_align1";
        fp8.row_alignment = 1;
        fp8.ep = false;
        fp8.gather = Gather::kFp8Group128;
        fp8.capture_int16 = false;
        out.push_back(fp8);

        if (tokens == 1 || tokens == 64) {
          Case copy = maps_only;
          copy.name = base + "_bf16_ep_align16";
          copy.gather = Gather::kBf16;
          out.push_back(copy);
        }
      }
    }
  }
  return out;
}

class RouteAndDispatchVsTwoCalls : public ::testing::TestWithParam<Case> {};

TEST_P(RouteAndDispatchVsTwoCalls, BitwiseIdentical) {
  FUSEDMOE_REQUIRE_SM90();
  run_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, RouteAndDispatchVsTwoCalls, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// Every case is a valid plan (checked without a GPU, so a bad case shows up before the device run).
TEST(RouteAndDispatchGpu, CasePlansAreValid) {
  for (const Case& c : cases()) {
    EXPECT_NO_THROW(case_plan(c)) << c.name;
  }
}

// The decode shapes of the target take the single-block kernel; larger batches fall back.
TEST(RouteAndDispatchGpu, SingleBlockKernelCoversDecodeBatches) {
  auto supported = [](int32_t experts, int32_t top_k, int32_t tokens, RoutingMethod method,
                      int32_t n_group) {
    cuda::TopKRoutingParams route;
    route.num_experts = experts;
    route.top_k = top_k;
    route.num_tokens = tokens;
    route.method = method;
    route.n_group = n_group;
    route.topk_group = n_group > 1 ? n_group / 2 : 1;
    route.topk_ids = reinterpret_cast<int32_t*>(uintptr_t{256});
    route.ids_row_stride = top_k;
    cuda::DispatchMapsParams maps;
    maps.topk_ids = route.topk_ids;
    maps.ids_row_stride = top_k;
    maps.num_tokens = tokens;
    maps.top_k = top_k;
    maps.local_experts = experts;
    return cuda::route_and_maps_small_supports(route, maps);
  };
  const RoutingMethod grouped = RoutingMethod::kSigmoidGroupedTopK;
  const RoutingMethod softmax = RoutingMethod::kSoftmaxTopK;
  EXPECT_TRUE(supported(256, 8, 1, grouped, 8));
  EXPECT_TRUE(supported(256, 8, 64, grouped, 8));
  EXPECT_TRUE(supported(128, 8, 1, softmax, 1));
  EXPECT_TRUE(supported(128, 8, 64, softmax, 1));
  EXPECT_TRUE(supported(512, 22, 64, grouped, 1));
  EXPECT_FALSE(supported(256, 8, 300, grouped, 8));
  EXPECT_FALSE(supported(256, 8, 0, grouped, 8));
  EXPECT_FALSE(supported(1024, 32, 65, softmax, 1));
}

}  // namespace
}  // namespace fusedmoe::testing
