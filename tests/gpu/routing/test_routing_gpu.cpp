// GPU routing (moe_route on CUDA tensors) against the CPU reference, for every routing method,
// fp32 and bf16 logits, the model shapes users run and M in {1, 3, 64, 1000, 16384}; plus the
// NaN / Inf / all-negative / tie policy and the routed-experts capture.
//
// Comparison rule: methods that rank the logit itself (softmax, sigmoid, top-k-softmax, Llama-4)
// must pick bitwise the same ids as the reference. The grouped sigmoid method ranks
// sigmoid(x) + bias computed in fp32 on the GPU and in double in the reference: a different id is
// accepted only where the two experts' keys (or their groups' scores) differ by less than
// kKeyTolerance. Weights compare with a tolerance; NaN never passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gpu/gpu_test_common.h"
#include "reference/reference.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

constexpr double kKeyTolerance = 1e-5;  // docs/NUMERICS.md (route ids)
constexpr float kQuietNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

struct RoutingCase {
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

// Model shapes (tools/common/presets.cpp) and the corners of every method.
const RoutingCase kRoutingCases[] = {
    {"deepseek_v3", 256, 8, RoutingMethod::kSigmoidGroupedTopK, true, 8, 4, true, false},
    {"qwen3_30b", 128, 8, RoutingMethod::kSoftmaxTopK, true, 1, 1, false, false},
    {"mixtral", 8, 2, RoutingMethod::kTopKSoftmax, true, 1, 1, false, false},
    {"minimax_m2", 256, 8, RoutingMethod::kSigmoidGroupedTopK, true, 1, 1, true, false},
    {"gpt_oss", 128, 4, RoutingMethod::kTopKSoftmax, true, 1, 1, false, true},
    {"llama4", 16, 1, RoutingMethod::kLlama4Top1Sigmoid, false, 1, 1, false, false},
    {"qwen3_next", 512, 10, RoutingMethod::kSoftmaxTopK, true, 1, 1, false, false},
    {"nemotron_super", 512, 22, RoutingMethod::kSigmoidGroupedTopK, true, 1, 1, true, false},
    {"kimi_k2", 384, 8, RoutingMethod::kSigmoidGroupedTopK, true, 1, 1, true, false},
    {"softmax_plain", 64, 6, RoutingMethod::kSoftmaxTopK, false, 1, 1, false, false},
    {"sigmoid_renorm", 64, 6, RoutingMethod::kSigmoidTopK, true, 1, 1, false, false},
    {"sigmoid_odd_e", 100, 5, RoutingMethod::kSigmoidTopK, false, 1, 1, false, true},
    {"max_experts", 1024, 32, RoutingMethod::kSoftmaxTopK, true, 1, 1, false, false},
    {"grouped_64_groups", 1024, 32, RoutingMethod::kSigmoidGroupedTopK, true, 64, 16, true, false},
    {"grouped_20_groups", 160, 6, RoutingMethod::kSigmoidGroupedTopK, false, 20, 3, true, false},
    {"grouped_no_bias", 64, 4, RoutingMethod::kSigmoidGroupedTopK, true, 4, 2, false, false},
};

const RoutingCase& find_case(const std::string& name) {
  for (const RoutingCase& c : kRoutingCases) {
    if (name == c.name) return c;
  }
  throw std::runtime_error("unknown routing case " + name);
}

MoePlan routing_plan(const RoutingCase& c, int32_t max_tokens) {
  MoeConfig moe;
  moe.num_experts = c.num_experts;
  moe.top_k = c.top_k;
  RoutingConfig routing;
  routing.method = c.method;
  routing.renormalize = c.renormalize;
  routing.n_group = c.n_group;
  routing.topk_group = c.topk_group;
  routing.routed_scaling_factor = 2.5f;
  return stage_plan(moe, routing, std::max(max_tokens, 1));
}

// Inputs of one routing run: logits and biases as floats, stored in `dtype`.
struct RoutingData {
  int32_t tokens = 0;
  DType dtype = DType::kFloat32;
  std::vector<float> logits;           // [tokens, E]
  std::vector<float> correction_bias;  // [E] or empty
  std::vector<float> logits_bias;      // [E] or empty
};

struct RoutingOutput {
  std::vector<int32_t> ids;
  std::vector<float> weights;
  std::vector<int32_t> capture_int32;
  std::vector<int16_t> capture_int16;
};

// The value each stored float really holds after rounding to the data dtype.
float stored(float value, DType dtype) {
  const std::vector<uint8_t> bytes = encode_floats({value}, dtype);
  return decode_float(bytes.data(), dtype, 0);
}

RoutingOutput run_gpu(const MoePlan& plan, const RoutingData& data, bool capture_int16) {
  const int32_t E = plan.moe.num_experts;
  const int32_t k = plan.moe.top_k;
  const int64_t M = data.tokens;
  DeviceBuffer logits = DeviceBuffer::from(encode_floats(data.logits, data.dtype));
  DeviceBuffer correction, bias;
  RoutingInputs inputs;
  inputs.router_logits = logits.view(data.dtype, {M, E});
  if (!data.correction_bias.empty()) {
    correction = DeviceBuffer::from(encode_floats(data.correction_bias, data.dtype));
    inputs.correction_bias = correction.view(data.dtype, {E});
  }
  if (!data.logits_bias.empty()) {
    bias = DeviceBuffer::from(encode_floats(data.logits_bias, data.dtype));
    inputs.logits_bias = bias.view(data.dtype, {E});
  }
  DeviceBuffer ids(M * k * 4), weights(M * k * 4), capture(M * k * (capture_int16 ? 2 : 4));
  ids.poison(0xab);
  weights.poison(0xff);  // NaN
  capture.poison(0xab);
  inputs.routed_experts_out = capture.view(capture_int16 ? DType::kInt16 : DType::kInt32, {M, k});
  DeviceBuffer workspace(std::max<size_t>(plan.workspace_bytes, 16));
  moe_route(plan, inputs, ids.view(DType::kInt32, {M, k}), weights.view(DType::kFloat32, {M, k}),
            Workspace{workspace.data(), workspace.bytes()}, nullptr);
  cuda_or_throw(cudaDeviceSynchronize(), "routing kernel");
  RoutingOutput out;
  out.ids = ids.download<int32_t>(M * k);
  out.weights = weights.download<float>(M * k);
  if (capture_int16) {
    out.capture_int16 = capture.download<int16_t>(M * k);
  } else {
    out.capture_int32 = capture.download<int32_t>(M * k);
  }
  return out;
}

RoutingOutput run_reference(const MoePlan& plan, const RoutingData& data) {
  const int32_t E = plan.moe.num_experts;
  const int32_t k = plan.moe.top_k;
  const int64_t M = data.tokens;
  HostArray logits(data.dtype, {M, E});
  const std::vector<uint8_t> logit_bytes = encode_floats(data.logits, data.dtype);
  std::copy(logit_bytes.begin(), logit_bytes.end(), static_cast<uint8_t*>(logits.data()));
  HostArray correction(data.dtype, {E}), bias(data.dtype, {E});
  RoutingInputs inputs;
  inputs.router_logits = logits.view();
  if (!data.correction_bias.empty()) {
    const std::vector<uint8_t> bytes = encode_floats(data.correction_bias, data.dtype);
    std::copy(bytes.begin(), bytes.end(), static_cast<uint8_t*>(correction.data()));
    inputs.correction_bias = correction.view();
  }
  if (!data.logits_bias.empty()) {
    const std::vector<uint8_t> bytes = encode_floats(data.logits_bias, data.dtype);
    std::copy(bytes.begin(), bytes.end(), static_cast<uint8_t*>(bias.data()));
    inputs.logits_bias = bias.view();
  }
  HostArray ids(DType::kInt32, {M, k}), weights(DType::kFloat32, {M, k});
  reference::route(plan, inputs, ids.view(), weights.view());
  RoutingOutput out;
  out.ids.assign(ids.as<int32_t>(), ids.as<int32_t>() + M * k);
  out.weights.assign(weights.as<float>(), weights.as<float>() + M * k);
  return out;
}

// The selection keys of token t as the reference ranks them (double), for the tolerance rule.
std::vector<double> reference_keys(const MoePlan& plan, const RoutingData& data, int64_t t) {
  const int32_t E = plan.moe.num_experts;
  std::vector<double> keys(E);
  for (int32_t e = 0; e < E; ++e) {
    float value = stored(data.logits[t * E + e], data.dtype);
    if (!data.logits_bias.empty()) value = value + stored(data.logits_bias[e], data.dtype);
    double x = std::isnan(value) ? -INFINITY : std::min<double>(value, FLT_MAX);
    if (plan.routing.method == RoutingMethod::kSigmoidGroupedTopK) {
      if (x == -INFINITY) {
        keys[e] = -INFINITY;
        continue;
      }
      double key = 1.0 / (1.0 + std::exp(-x));
      if (!data.correction_bias.empty()) key += stored(data.correction_bias[e], data.dtype);
      keys[e] = std::isnan(key) ? -INFINITY : std::min<double>(key, FLT_MAX);
    } else {
      keys[e] = x;
    }
  }
  return keys;
}

double group_score(const std::vector<double>& keys, int32_t group, int32_t group_size) {
  std::vector<double> members(keys.begin() + group * group_size,
                              keys.begin() + (group + 1) * group_size);
  std::sort(members.rbegin(), members.rend());
  return group_size >= 2 ? members[0] + members[1] : members[0];
}

bool near(double a, double b, double tolerance) {
  if (a == b) return true;  // equal infinities
  return std::fabs(a - b) <= tolerance * std::max(1.0, std::fabs(a));
}

// Checks one run; returns the number of tokens whose ids differ (within tolerance) from the
// reference, failing the test for anything else.
int64_t compare_routing(const MoePlan& plan, const RoutingData& data, const RoutingOutput& gpu,
                        const RoutingOutput& ref, const std::string& label) {
  const int32_t E = plan.moe.num_experts;
  const int32_t k = plan.moe.top_k;
  const bool grouped = plan.routing.method == RoutingMethod::kSigmoidGroupedTopK;
  const int32_t group_size = E / plan.routing.n_group;
  int64_t tokens_differing = 0;
  int failures = 0;
  for (int64_t t = 0; t < data.tokens && failures < 8; ++t) {
    std::set<int32_t> distinct;
    for (int32_t s = 0; s < k; ++s) {
      const int32_t id = gpu.ids[t * k + s];
      if (id < 0 || id >= E || !distinct.insert(id).second) {
        ADD_FAILURE() << label << " token " << t << " slot " << s << ": id " << id
                      << " out of range or duplicated";
        ++failures;
      }
      const int32_t captured = gpu.capture_int16.empty() ? gpu.capture_int32[t * k + s]
                                                         : gpu.capture_int16[t * k + s];
      if (captured != id) {
        ADD_FAILURE() << label << " token " << t << ": captured id " << captured << " != " << id;
        ++failures;
      }
      if (!std::isfinite(gpu.weights[t * k + s])) {
        ADD_FAILURE() << label << " token " << t << " slot " << s << ": weight "
                      << gpu.weights[t * k + s];
        ++failures;
      }
    }
    bool same_ids = true;
    for (int32_t s = 0; s < k; ++s) same_ids &= gpu.ids[t * k + s] == ref.ids[t * k + s];
    if (!same_ids) {
      ++tokens_differing;
      if (!grouped) {
        ADD_FAILURE() << label << " token " << t << ": ids differ from the reference (exact "
                      << "for methods that rank the logit), slot 0: " << gpu.ids[t * k] << " vs "
                      << ref.ids[t * k];
        ++failures;
        continue;
      }
      // Compared as sets: a near-tie at the k-th key, or between two group scores, exchanges
      // experts (a whole group for a group tie), which also shifts the slots of the rest. Every
      // expert only one side chose must have a near-tied counterpart only the other side chose.
      const std::vector<double> keys = reference_keys(plan, data, t);
      std::set<int32_t> gpu_set, ref_set;
      for (int32_t s = 0; s < k; ++s) {
        gpu_set.insert(gpu.ids[t * k + s]);
        ref_set.insert(ref.ids[t * k + s]);
      }
      if (gpu_set == ref_set) {
        // Same experts in another order: only near-tied keys may swap places.
        for (int32_t s = 0; s < k; ++s) {
          const int32_t a = gpu.ids[t * k + s];
          const int32_t b = ref.ids[t * k + s];
          if (a != b && !near(keys[a], keys[b], kKeyTolerance)) {
            ADD_FAILURE() << label << " token " << t << " slot " << s << ": id " << a << " (key "
                          << keys[a] << ") vs reference " << b << " (key " << keys[b]
                          << "): order differs without a near-tie";
            ++failures;
          }
        }
      }
      for (const int32_t a : gpu_set) {
        if (ref_set.count(a) > 0 || a < 0 || a >= E) continue;
        bool explained = false;
        for (const int32_t b : ref_set) {
          if (gpu_set.count(b) > 0) continue;
          const bool keys_tie = near(keys[a], keys[b], kKeyTolerance);
          const bool groups_tie =
              plan.routing.n_group > 1 &&
              near(group_score(keys, a / group_size, group_size),
                   group_score(keys, b / group_size, group_size), kKeyTolerance);
          explained = explained || keys_tie || groups_tie;
        }
        if (!explained) {
          ADD_FAILURE() << label << " token " << t << ": id " << a << " (key " << keys[a]
                        << ") chosen instead of the reference's, with no near-tie to explain it";
          ++failures;
        }
      }
      continue;  // weights of a near-tie swap are renormalized over a different set
    }
    for (int32_t s = 0; s < k; ++s) {
      const double want = ref.weights[t * k + s];
      const double got = gpu.weights[t * k + s];
      if (!(std::fabs(got - want) <= 1e-6 + 1e-4 * std::fabs(want))) {  // NUMERICS.md
        ADD_FAILURE() << label << " token " << t << " slot " << s << " (id "
                      << gpu.ids[t * k + s] << "): weight " << got << " vs reference " << want;
        ++failures;
      }
    }
  }
  return tokens_differing;
}

RoutingData random_data(const RoutingCase& c, DType dtype, int32_t tokens, std::mt19937_64& rng) {
  RoutingData data;
  data.tokens = tokens;
  data.dtype = dtype;
  data.logits = random_normal(rng, static_cast<size_t>(tokens) * c.num_experts, 2.0f);
  if (c.correction_bias) data.correction_bias = random_normal(rng, c.num_experts, 0.05f);
  if (c.logits_bias) data.logits_bias = random_normal(rng, c.num_experts, 0.5f);
  return data;
}

void check_case(const RoutingCase& c, const RoutingData& data, const std::string& label,
                bool capture_int16) {
  const MoePlan plan = routing_plan(c, data.tokens);
  const RoutingOutput gpu = run_gpu(plan, data, capture_int16);
  const RoutingOutput ref = run_reference(plan, data);
  const int64_t differing = compare_routing(plan, data, gpu, ref, label);
  // Near-ties are rare with continuous random logits: a flood of them is a bug, not rounding.
  EXPECT_LE(differing, std::max<int64_t>(2, data.tokens / 100))
      << label << ": too many tokens with near-tie differences";
  if (differing > 0) std::fprintf(stderr, "%s: %lld near-tie token(s)\n", label.c_str(),
                                  static_cast<long long>(differing));
}

// ---- every method x dtype x shape x M -----------------------------------------------------------
using RoutingParam = std::tuple<std::string, DType, int32_t>;

class RoutingVsReference : public ::testing::TestWithParam<RoutingParam> {};

TEST_P(RoutingVsReference, MatchesReference) {
  FUSEDMOE_REQUIRE_SM90();
  const auto& [name, dtype, tokens] = GetParam();
  const RoutingCase& c = find_case(name);
  const std::string label = name + "/" + dtype_name(dtype) + "/M" + std::to_string(tokens);
  std::mt19937_64 rng(case_seed(label));
  check_case(c, random_data(c, dtype, tokens, rng), label, tokens % 2 == 1);
}

std::vector<RoutingParam> routing_params() {
  std::vector<RoutingParam> params;
  for (const RoutingCase& c : kRoutingCases) {
    for (DType dtype : {DType::kFloat32, DType::kBFloat16}) {
      for (int32_t tokens : {1, 3, 64, 1000}) params.emplace_back(c.name, dtype, tokens);
    }
  }
  for (const char* big : {"deepseek_v3", "qwen3_next", "nemotron_super"}) {
    for (DType dtype : {DType::kFloat32, DType::kBFloat16}) params.emplace_back(big, dtype, 16384);
  }
  return params;
}

std::string routing_param_name(const ::testing::TestParamInfo<RoutingParam>& info) {
  const auto& [name, dtype, tokens] = info.param;
  return name + "_" + (dtype == DType::kFloat32 ? "fp32" : "bf16") + "_M" + std::to_string(tokens);
}

INSTANTIATE_TEST_SUITE_P(AllMethods, RoutingVsReference, ::testing::ValuesIn(routing_params()),
                         routing_param_name);

// ---- NaN, Inf, all-negative, ties ---------------------------------------------------------------
// Rows built to hit every branch of the NaN policy; ids must be exactly the reference's (the keys
// of these rows are either exact ties or far apart), weights finite and close.
RoutingData special_rows(const RoutingCase& c, DType dtype, std::mt19937_64& rng) {
  const int32_t E = c.num_experts;
  std::vector<std::vector<float>> rows;
  rows.push_back(std::vector<float>(E, kQuietNaN));   // all NaN
  rows.push_back(std::vector<float>(E, -kInf));       // all -inf
  rows.push_back(std::vector<float>(E, kInf));        // all +inf: clamped, tie, lowest ids
  rows.push_back(random_uniform(rng, E, -100.0f, -1.0f));  // all negative (FlashInfer #2822)
  rows.push_back(std::vector<float>(E, 0.0f));        // all equal: ids 0..k-1
  {
    std::vector<float> row = random_normal(rng, E, 1.0f);
    for (int32_t e = 0; e < E; e += 3) row[e] = kQuietNaN;
    row[E / 2] = kInf;
    row[E - 1] = kInf;  // two +inf share the mass
    rows.push_back(row);
  }
  {
    std::vector<float> row(E, -1.0f);
    for (int32_t e = 0; e < E; ++e) row[e] = (e % 2) ? -0.0f : 0.0f;  // -0 ties +0
    rows.push_back(row);
  }
  {
    std::vector<float> row = random_uniform(rng, E, -1e38f, 1e38f);
    row[0] = FLT_MAX;
    row[E - 1] = -FLT_MAX;
    rows.push_back(row);
  }
  {
    std::vector<float> row(E, kQuietNaN);
    row[E - 1] = 3.0f;  // one finite logit, k - 1 slots from the NaN (= -inf) rest
    rows.push_back(row);
  }
  {
    std::vector<float> row = random_normal(rng, E, 1.0f);
    for (int32_t e = 1; e < E; e += 2) row[e] = -kInf;
    rows.push_back(row);
  }
  {
    std::vector<float> row = random_normal(rng, E, 1.0f);
    for (int32_t e = 0; e < E; ++e) row[e] = std::round(row[e]);  // many exact ties
    rows.push_back(row);
  }
  RoutingData data;
  data.dtype = dtype;
  data.tokens = static_cast<int32_t>(rows.size());
  for (const std::vector<float>& row : rows) data.logits.insert(data.logits.end(), row.begin(), row.end());
  if (c.correction_bias) {
    data.correction_bias = random_normal(rng, E, 0.05f);
    data.correction_bias[1] = kQuietNaN;  // a NaN bias ranks its expert lowest
  }
  if (c.logits_bias) data.logits_bias = random_normal(rng, E, 0.5f);
  return data;
}

using SpecialParam = std::tuple<std::string, DType>;
class RoutingSpecialValues : public ::testing::TestWithParam<SpecialParam> {};

TEST_P(RoutingSpecialValues, FollowNaNPolicy) {
  FUSEDMOE_REQUIRE_SM90();
  const auto& [name, dtype] = GetParam();
  const RoutingCase& c = find_case(name);
  const std::string label = name + "/special/" + dtype_name(dtype);
  std::mt19937_64 rng(case_seed(label));
  const RoutingData data = special_rows(c, dtype, rng);
  const MoePlan plan = routing_plan(c, data.tokens);
  const RoutingOutput gpu = run_gpu(plan, data, false);
  const RoutingOutput ref = run_reference(plan, data);
  compare_routing(plan, data, gpu, ref, label);
  const int32_t k = c.top_k;
  // All-NaN and all -inf rows: the k lowest ids, weight 0.
  for (int64_t row : {0, 1}) {
    for (int32_t s = 0; s < k; ++s) {
      EXPECT_EQ(gpu.ids[row * k + s], s) << label << " row " << row;
      EXPECT_EQ(gpu.weights[row * k + s], 0.0f) << label << " row " << row;
    }
  }
}

std::vector<SpecialParam> special_params() {
  std::vector<SpecialParam> params;
  for (const RoutingCase& c : kRoutingCases) {
    for (DType dtype : {DType::kFloat32, DType::kBFloat16}) params.emplace_back(c.name, dtype);
  }
  return params;
}

std::string special_param_name(const ::testing::TestParamInfo<SpecialParam>& info) {
  return std::get<0>(info.param) + (std::get<1>(info.param) == DType::kFloat32 ? "_fp32" : "_bf16");
}

INSTANTIATE_TEST_SUITE_P(AllMethods, RoutingSpecialValues, ::testing::ValuesIn(special_params()),
                         special_param_name);

// ---- strided logits and run-to-run determinism --------------------------------------------------
TEST(RoutingGpu, StridedLogitsAndRepeatable) {
  FUSEDMOE_REQUIRE_SM90();
  const RoutingCase& c = find_case("deepseek_v3");
  const int64_t M = 37, E = c.num_experts, row_stride = E + 24;
  std::mt19937_64 rng(case_seed("strided"));
  const std::vector<float> padded = random_normal(rng, M * row_stride, 2.0f);
  RoutingData data = random_data(c, DType::kFloat32, static_cast<int32_t>(M), rng);
  for (int64_t t = 0; t < M; ++t) {
    for (int64_t e = 0; e < E; ++e) data.logits[t * E + e] = padded[t * row_stride + e];
  }
  const MoePlan plan = routing_plan(c, static_cast<int32_t>(M));
  DeviceBuffer logits = DeviceBuffer::from(padded);
  DeviceBuffer correction = DeviceBuffer::from(data.correction_bias);
  RoutingInputs inputs;
  inputs.router_logits = logits.strided_view(DType::kFloat32, {M, E}, {row_stride, 1});
  inputs.correction_bias = correction.view(DType::kFloat32, {E});
  const int64_t k = c.top_k;
  DeviceBuffer workspace(std::max<size_t>(plan.workspace_bytes, 16));
  std::vector<int32_t> first_ids;
  std::vector<float> first_weights;
  for (int run = 0; run < 2; ++run) {
    DeviceBuffer ids(M * k * 4), weights(M * k * 4);
    ids.poison();
    weights.poison(0xff);
    moe_route(plan, inputs, ids.view(DType::kInt32, {M, k}), weights.view(DType::kFloat32, {M, k}),
              Workspace{workspace.data(), workspace.bytes()}, nullptr);
    cuda_or_throw(cudaDeviceSynchronize(), "routing");
    RoutingOutput gpu;
    gpu.ids = ids.download<int32_t>(M * k);
    gpu.weights = weights.download<float>(M * k);
    gpu.capture_int32 = gpu.ids;
    if (run == 0) {
      compare_routing(plan, data, gpu, run_reference(plan, data), "strided");
      first_ids = gpu.ids;
      first_weights = gpu.weights;
    } else {
      EXPECT_EQ(gpu.ids, first_ids);
      EXPECT_EQ(0, std::memcmp(gpu.weights.data(), first_weights.data(), first_weights.size() * 4));
    }
  }
}

}  // namespace
}  // namespace fusedmoe::testing
