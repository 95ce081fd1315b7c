// GPU combine (moe_combine on CUDA tensors) against the CPU reference: bf16 / fp16, fp32 / bf16 /
// absent weights, shared output, routed_scaling_factor, -1 and duplicate-free row maps, padded row
// strides with H % 8 != 0; plus bitwise reproducibility (two runs) and batch invariance (a token's
// bits do not depend on the other tokens of the call).
//
// Tolerance: the kernel sums in fp32 and rounds once; the reference sums in double and rounds once,
// so results differ by at most one unit in the last place of the output dtype (plus fp32 noise
// where the sum cancels).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu/gpu_test_common.h"
#include "reference/reference.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

enum class WeightKind { kNone, kFloat32, kBFloat16 };

struct CombineCase {
  std::string name;
  int32_t tokens = 1;
  int32_t top_k = 8;
  int32_t hidden = 7168;
  int32_t row_stride = 0;  // 0: hidden
  DType dtype = DType::kBFloat16;
  WeightKind weights = WeightKind::kFloat32;
  bool shared = false;
  float scaling = 1.0f;
  int32_t dropped_percent = 10;  // slots mapped to -1
};

struct CombineData {
  int64_t rows = 0;
  std::vector<uint8_t> expert_output;  // [rows, stride] in dtype
  std::vector<int32_t> slot_to_row;    // [M, k]
  std::vector<uint8_t> weights;        // [M, k]
  std::vector<uint8_t> shared;         // [M, stride]
};

MoePlan combine_plan(const CombineCase& c) {
  MoeConfig moe;
  moe.hidden_size = c.hidden;
  moe.num_experts = 256;
  moe.top_k = c.top_k;
  RoutingConfig routing;
  routing.routed_scaling_factor = c.scaling;
  return stage_plan(moe, routing, c.tokens);
}

CombineData make_data(const CombineCase& c, std::mt19937_64& rng) {
  const int64_t M = c.tokens, k = c.top_k, stride = c.row_stride ? c.row_stride : c.hidden;
  CombineData data;
  data.rows = M * k + 13;
  data.expert_output = encode_floats(random_normal(rng, data.rows * stride, 1.0f), c.dtype);
  std::vector<int32_t> rows(data.rows);
  std::iota(rows.begin(), rows.end(), 0);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::uniform_int_distribution<int32_t> percent(0, 99);
  data.slot_to_row.resize(M * k);
  for (int64_t i = 0; i < M * k; ++i) data.slot_to_row[i] = percent(rng) < c.dropped_percent ? -1 : rows[i];
  const std::vector<float> weights = random_uniform(rng, M * k, 0.0f, 1.0f);
  if (c.weights == WeightKind::kFloat32) data.weights = encode_floats(weights, DType::kFloat32);
  if (c.weights == WeightKind::kBFloat16) data.weights = encode_floats(weights, DType::kBFloat16);
  if (c.shared) data.shared = encode_floats(random_normal(rng, M * stride, 1.0f), c.dtype);
  return data;
}

DType weight_dtype(const CombineCase& c) {
  return c.weights == WeightKind::kBFloat16 ? DType::kBFloat16 : DType::kFloat32;
}

// Runs the GPU combine on the first `tokens` tokens of `data`; returns the raw output bytes.
std::vector<uint8_t> run_gpu(const CombineCase& c, const CombineData& data, int64_t tokens) {
  const MoePlan plan = combine_plan(c);
  const int64_t k = c.top_k, H = c.hidden, stride = c.row_stride ? c.row_stride : c.hidden;
  const size_t element = dtype_size(c.dtype);
  DeviceBuffer expert_output = DeviceBuffer::from(data.expert_output);
  DeviceBuffer slot_to_row = DeviceBuffer::from(data.slot_to_row);
  DeviceBuffer weights = DeviceBuffer::from(data.weights);
  DeviceBuffer shared = DeviceBuffer::from(data.shared);
  DeviceBuffer output(tokens * stride * element);
  output.poison(0xff);
  CombineInputs inputs;
  inputs.expert_output = expert_output.strided_view(c.dtype, {data.rows, H}, {stride, 1});
  inputs.slot_to_row = slot_to_row.view(DType::kInt32, {tokens, k});
  if (c.weights != WeightKind::kNone) inputs.topk_weights = weights.view(weight_dtype(c), {tokens, k});
  if (c.shared) inputs.shared_output = shared.strided_view(c.dtype, {tokens, H}, {stride, 1});
  moe_combine(plan, inputs, output.strided_view(c.dtype, {tokens, H}, {stride, 1}), nullptr);
  cuda_or_throw(cudaDeviceSynchronize(), "combine kernel");
  std::vector<uint8_t> bytes = output.download<uint8_t>(tokens * stride * element);
  // Keep only the H columns of each row (the stride padding is not part of the output).
  std::vector<uint8_t> packed(tokens * H * element);
  for (int64_t t = 0; t < tokens; ++t) {
    std::memcpy(packed.data() + t * H * element, bytes.data() + t * stride * element, H * element);
  }
  return packed;
}

std::vector<float> run_reference(const CombineCase& c, const CombineData& data) {
  const MoePlan plan = combine_plan(c);
  const int64_t M = c.tokens, k = c.top_k, H = c.hidden, stride = c.row_stride ? c.row_stride : c.hidden;
  HostArray expert_output(c.dtype, {data.rows, stride});
  std::memcpy(expert_output.data(), data.expert_output.data(), data.expert_output.size());
  HostArray slot_to_row(DType::kInt32, {M, k});
  std::memcpy(slot_to_row.data(), data.slot_to_row.data(), data.slot_to_row.size() * 4);
  HostArray weights(weight_dtype(c), {M, k});
  if (!data.weights.empty()) std::memcpy(weights.data(), data.weights.data(), data.weights.size());
  HostArray shared(c.dtype, {M, stride});
  if (!data.shared.empty()) std::memcpy(shared.data(), data.shared.data(), data.shared.size());
  HostArray output(c.dtype, {M, H});
  CombineInputs inputs;
  inputs.expert_output = expert_output.view();
  inputs.expert_output.shape[1] = H;
  inputs.slot_to_row = slot_to_row.view();
  if (c.weights != WeightKind::kNone) inputs.topk_weights = weights.view();
  if (c.shared) {
    inputs.shared_output = shared.view();
    inputs.shared_output.shape[1] = H;
  }
  reference::combine(plan, inputs, output.view());
  std::vector<float> values(M * H);
  for (int64_t i = 0; i < M * H; ++i) values[i] = decode_float(output.data(), c.dtype, i);
  return values;
}

// One unit in the last place of `value` in bf16 (8 significant bits) or fp16 (11).
double ulp(double value, DType dtype) {
  const int bits = dtype == DType::kBFloat16 ? 8 : 11;
  const double magnitude = std::max(std::fabs(value), dtype == DType::kBFloat16 ? 1e-30 : 6.1e-5);
  return std::ldexp(1.0, static_cast<int>(std::floor(std::log2(magnitude))) - (bits - 1));
}

class CombineVsReference : public ::testing::TestWithParam<CombineCase> {};

TEST_P(CombineVsReference, MatchesReferenceAndIsReproducible) {
  FUSEDMOE_REQUIRE_SM90();
  const CombineCase& c = GetParam();
  std::mt19937_64 rng(case_seed(c.name));
  const CombineData data = make_data(c, rng);
  const std::vector<uint8_t> first = run_gpu(c, data, c.tokens);
  const std::vector<float> want = run_reference(c, data);
  int failures = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(want.size()) && failures < 8; ++i) {
    const float got = decode_float(first.data(), c.dtype, i);
    const double tolerance = ulp(want[i], c.dtype) + 1e-5 * c.scaling;
    if (!(std::fabs(got - want[i]) <= tolerance)) {
      ADD_FAILURE() << c.name << ": element " << i << " (token " << i / c.hidden << ", column "
                    << i % c.hidden << ") = " << got << ", reference " << want[i];
      ++failures;
    }
  }
  const std::vector<uint8_t> second = run_gpu(c, data, c.tokens);
  EXPECT_EQ(0, std::memcmp(first.data(), second.data(), first.size()))
      << c.name << ": two runs differ bitwise";
  const int64_t prefix = std::min<int64_t>(3, c.tokens);
  const std::vector<uint8_t> small_batch = run_gpu(c, data, prefix);
  EXPECT_EQ(0, std::memcmp(first.data(), small_batch.data(), small_batch.size()))
      << c.name << ": a token's result depends on the batch";
}

std::vector<CombineCase> combine_cases() {
  std::vector<CombineCase> cases;
  for (int32_t tokens : {1, 3, 64}) {
    CombineCase c;
    c.name = "dsv3_bf16_M" + std::to_string(tokens);
    c.tokens = tokens;
    c.scaling = 2.5f;
    c.shared = tokens != 3;
    cases.push_back(c);
  }
  {
    CombineCase c;
    c.name = "qwen3_fp16_bf16weights_M1000";
    c.tokens = 1000;
    c.hidden = 2048;
    c.dtype = DType::kFloat16;
    c.weights = WeightKind::kBFloat16;
    cases.push_back(c);
  }
  {
    CombineCase c;
    c.name = "unweighted_shared_M16384";
    c.tokens = 16384;
    c.hidden = 256;
    c.weights = WeightKind::kNone;
    c.shared = true;
    c.scaling = 2.827f;
    cases.push_back(c);
  }
  {
    CombineCase c;
    c.name = "tail_h100_stride104_k22";
    c.tokens = 33;
    c.top_k = 22;
    c.hidden = 100;
    c.row_stride = 104;
    c.shared = true;
    c.dropped_percent = 40;
    cases.push_back(c);
  }
  {
    CombineCase c;
    c.name = "k32_all_dropped_rows";
    c.tokens = 17;
    c.top_k = 32;
    c.hidden = 1024;
    c.dropped_percent = 90;
    c.dtype = DType::kFloat16;
    cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, CombineVsReference, ::testing::ValuesIn(combine_cases()),
                         [](const ::testing::TestParamInfo<CombineCase>& info) { return info.param.name; });

}  // namespace
}  // namespace fusedmoe::testing
