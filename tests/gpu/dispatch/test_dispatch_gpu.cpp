// GPU dispatch (moe_dispatch on CUDA tensors) against the CPU reference: maps (offsets, counts,
// row_to_slot over all R rows, slot_to_row) and the permuted rows and scales of the segments
// (rows < offsets[E_l]), compared bitwise; the tail past the last segment must still hold the
// poison both sides start from (neither writes it). For the single-tile and multi-tile paths,
// int32 / int64 ids with -1, duplicates and out-of-range values, EP offsets > 0, row alignments
// 1..256, up to 1024 local experts, and every activation quantization (kNone copy, 1x128 groups
// with fp32 or ue8m0 scales, per-token; per-tensor through cuda::dispatch directly since
// validation only lets dynamic modes quantize in dispatch).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cuda_backend.h"
#include "core/limits.h"
#include "dispatch/dispatch_kernels.h"
#include "gpu/gpu_test_common.h"
#include "reference/reference.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

enum class IdPattern { kRouted, kGarbage };

struct DispatchCase {
  std::string name;
  int32_t num_experts = 256;
  int32_t top_k = 8;
  int32_t local_offset = 0;
  int32_t local_experts = 0;  // 0: all from the offset
  int32_t row_alignment = 1;
  int32_t tokens = 1;
  int32_t hidden = 256;
  IdPattern ids = IdPattern::kRouted;
  bool ids_int64 = false;
  ActivationQuant quant = ActivationQuant::kNone;
  ScaleFormat scale_format = ScaleFormat::kFloat32;
  DType hidden_dtype = DType::kBFloat16;
  int64_t extra_rows = 0;     // R beyond the minimum validation asks for
  bool gather = true;         // give permuted_hidden
  bool direct = false;        // call cuda::dispatch (skips validation; per-tensor fp8)
};

MoeConfig dispatch_moe(const DispatchCase& c) {
  MoeConfig moe;
  moe.hidden_size = c.hidden;
  moe.intermediate_size = 128;
  moe.num_experts = c.num_experts;
  moe.top_k = c.top_k;
  moe.local_expert_offset = c.local_offset;
  moe.num_local_experts = c.local_experts;
  moe.activation_quant = c.quant;
  moe.activation_scale_format = c.scale_format;
  switch (c.quant) {
    case ActivationQuant::kNone: moe.weight_format = WeightFormat::kBF16; break;
    case ActivationQuant::kFP8Group128: moe.weight_format = WeightFormat::kFP8Block128; break;
    case ActivationQuant::kFP8PerToken:
    case ActivationQuant::kFP8PerTensor: moe.weight_format = WeightFormat::kFP8PerTensor; break;
  }
  return moe;
}

std::vector<int64_t> make_ids(const DispatchCase& c, std::mt19937_64& rng) {
  const int64_t slots = static_cast<int64_t>(c.tokens) * c.top_k;
  std::vector<int64_t> ids(slots);
  std::vector<int32_t> experts(c.num_experts);
  for (int32_t e = 0; e < c.num_experts; ++e) experts[e] = e;
  // Skewed popularity so some experts get many rows and most get none at large M.
  std::geometric_distribution<int32_t> hot(0.02);
  std::uniform_int_distribution<int32_t> pick(0, 99);
  for (int64_t t = 0; t < c.tokens; ++t) {
    std::shuffle(experts.begin(), experts.end(), rng);
    for (int32_t s = 0; s < c.top_k; ++s) {
      int64_t id = pick(rng) < 30 ? hot(rng) % c.num_experts : experts[s];
      if (c.ids == IdPattern::kGarbage) {
        const int32_t roll = pick(rng);
        if (roll < 10) id = -1;
        else if (roll < 15) id = c.num_experts + roll;             // past E
        else if (roll < 18) id = -1000 - roll;                     // negative
        else if (roll < 20 && c.ids_int64) id = (int64_t{1} << 40) + roll;  // beyond int32
        else if (roll < 30 && s > 0) id = ids[t * c.top_k + s - 1];  // duplicate in the row
      }
      ids[t * c.top_k + s] = id;
    }
  }
  return ids;
}

struct DispatchBuffers {
  std::vector<int32_t> offsets, counts, row_to_slot, slot_to_row;
  std::vector<uint8_t> permuted;
  std::vector<float> scales;
};

// Every buffer starts as this byte pattern; rows dispatch leaves alone must still hold it.
constexpr uint8_t kPoison = 0xab;

// Expects bytes [from, size) of `bytes` to hold the poison: the tail, which dispatch leaves alone.
void expect_poisoned(const std::string& what, const void* bytes, size_t from, size_t size) {
  const uint8_t* begin = static_cast<const uint8_t*>(bytes);
  const uint8_t* written =
      std::find_if(begin + from, begin + size, [](uint8_t byte) { return byte != kPoison; });
  EXPECT_TRUE(written == begin + size)
      << what << ": byte " << (written - begin) << " of " << size << " was written (the tail "
      << "starts at byte " << from << ")";
}

void run_case(const DispatchCase& c) {
  std::mt19937_64 rng(case_seed(c.name));
  const MoeConfig moe = dispatch_moe(c);
  RoutingConfig routing;
  const MoePlan plan = stage_plan(moe, routing, c.tokens);
  const int64_t M = c.tokens, k = c.top_k, H = c.hidden;
  const int64_t E_l = moe.local_experts();
  const int64_t R = detail::max_dispatch_rows(moe, M, c.row_alignment) + c.extra_rows;
  const std::vector<int64_t> ids64 = make_ids(c, rng);
  std::vector<int32_t> ids32(ids64.size());
  for (size_t i = 0; i < ids64.size(); ++i) ids32[i] = static_cast<int32_t>(ids64[i]);
  const DType id_dtype = c.ids_int64 ? DType::kInt64 : DType::kInt32;
  const std::vector<float> hidden_values = random_normal(rng, M * H, 1.5f);
  std::vector<uint8_t> hidden_bytes = encode_floats(hidden_values, c.hidden_dtype);
  if (M > 2 && H >= 256) {  // an all-zero group and a tiny-magnitude group
    std::fill(hidden_bytes.begin() + H * dtype_size(c.hidden_dtype),
              hidden_bytes.begin() + (H + 128) * dtype_size(c.hidden_dtype), 0);
    for (int64_t h = 128; h < 256; ++h) {
      const std::vector<uint8_t> tiny = encode_floats({hidden_values[2 * H + h] * 1e-8f}, c.hidden_dtype);
      std::copy(tiny.begin(), tiny.end(), hidden_bytes.begin() + (2 * H + h) * dtype_size(c.hidden_dtype));
    }
  }
  const bool quantized = c.quant != ActivationQuant::kNone;
  const DType permuted_dtype = quantized ? DType::kFloat8E4M3 : c.hidden_dtype;
  const int64_t groups = (H + 127) / 128;
  const int64_t scale_columns = c.quant == ActivationQuant::kFP8Group128 ? groups : 1;
  const float static_scale = 0.0123f;

  // ---- GPU ----
  DeviceBuffer d_ids = c.ids_int64 ? DeviceBuffer::from(ids64) : DeviceBuffer::from(ids32);
  DeviceBuffer d_hidden = DeviceBuffer::from(hidden_bytes);
  DeviceBuffer d_offsets((E_l + 1) * 4), d_counts(E_l * 4), d_row_to_slot(R * 4),
      d_slot_to_row(M * k * 4);
  DeviceBuffer d_permuted(R * H * dtype_size(permuted_dtype));
  DeviceBuffer d_scales(std::max<int64_t>(R * scale_columns, 1) * 4);
  for (DeviceBuffer* buffer : {&d_offsets, &d_counts, &d_row_to_slot, &d_slot_to_row, &d_permuted,
                               &d_scales}) {
    buffer->poison(kPoison);
  }
  if (c.quant == ActivationQuant::kFP8PerTensor) d_scales.upload(&static_scale, 4);
  DeviceBuffer workspace(std::max<size_t>(plan.workspace_bytes, 16));
  DispatchMaps maps;
  maps.expert_offsets = d_offsets.view(DType::kInt32, {E_l + 1});
  maps.expert_counts = d_counts.view(DType::kInt32, {E_l});
  maps.row_to_slot = d_row_to_slot.view(DType::kInt32, {R});
  maps.slot_to_row = d_slot_to_row.view(DType::kInt32, {M, k});
  TensorView hidden_view, permuted_view, scale_view;
  if (c.gather) {
    hidden_view = d_hidden.view(c.hidden_dtype, {M, H});
    permuted_view = d_permuted.view(permuted_dtype, {R, H});
    if (c.quant == ActivationQuant::kFP8Group128) {
      scale_view = d_scales.view(DType::kFloat32, {R, groups});
    } else if (c.quant == ActivationQuant::kFP8PerToken) {
      scale_view = d_scales.view(DType::kFloat32, {R});
    } else if (c.quant == ActivationQuant::kFP8PerTensor) {
      scale_view = d_scales.view(DType::kFloat32, {1});
    }
  }
  const Workspace ws{workspace.data(), workspace.bytes()};
  if (c.direct) {
    cuda::dispatch(plan, d_ids.view(id_dtype, {M, k}), c.row_alignment, maps, hidden_view,
                   permuted_view, scale_view, ws, nullptr);
  } else {
    moe_dispatch(plan, d_ids.view(id_dtype, {M, k}), c.row_alignment, maps, hidden_view,
                 permuted_view, scale_view, ws, nullptr);
  }
  cuda_or_throw(cudaDeviceSynchronize(), "dispatch kernels");
  DispatchBuffers gpu;
  gpu.offsets = d_offsets.download<int32_t>(E_l + 1);
  gpu.counts = d_counts.download<int32_t>(E_l);
  gpu.row_to_slot = d_row_to_slot.download<int32_t>(R);
  gpu.slot_to_row = d_slot_to_row.download<int32_t>(M * k);
  if (c.gather) {
    gpu.permuted = d_permuted.download<uint8_t>(R * H * dtype_size(permuted_dtype));
    if (quantized && c.quant != ActivationQuant::kFP8PerTensor) {
      gpu.scales = d_scales.download<float>(R * scale_columns);
    }
  }

  // ---- reference ----
  HostArray h_ids(id_dtype, {M, k});
  if (c.ids_int64) {
    std::memcpy(h_ids.data(), ids64.data(), ids64.size() * 8);
  } else {
    std::memcpy(h_ids.data(), ids32.data(), ids32.size() * 4);
  }
  HostArray h_hidden(c.hidden_dtype, {M, H});
  std::memcpy(h_hidden.data(), hidden_bytes.data(), hidden_bytes.size());
  HostArray h_offsets(DType::kInt32, {E_l + 1}), h_counts(DType::kInt32, {E_l}),
      h_row_to_slot(DType::kInt32, {R}), h_slot_to_row(DType::kInt32, {M, k}),
      h_permuted(permuted_dtype, {R, H});
  HostArray h_scales = c.quant == ActivationQuant::kFP8Group128 ? HostArray(DType::kFloat32, {R, groups})
                       : c.quant == ActivationQuant::kFP8PerTensor ? HostArray(DType::kFloat32, {1})
                                                                   : HostArray(DType::kFloat32, {R});
  std::memset(h_permuted.data(), kPoison, h_permuted.bytes());  // the same poison as the GPU's
  std::memset(h_scales.data(), kPoison, h_scales.bytes());
  if (c.quant == ActivationQuant::kFP8PerTensor) *h_scales.as<float>() = static_scale;
  DispatchMaps h_maps;
  h_maps.expert_offsets = h_offsets.view();
  h_maps.expert_counts = h_counts.view();
  h_maps.row_to_slot = h_row_to_slot.view();
  h_maps.slot_to_row = h_slot_to_row.view();
  reference::dispatch(plan, h_ids.view(), c.row_alignment, h_maps,
                      c.gather ? h_hidden.view() : TensorView{},
                      c.gather ? h_permuted.view() : TensorView{},
                      c.gather && quantized ? h_scales.view() : TensorView{});

  auto same = [&](const std::vector<int32_t>& got, const HostArray& want, const char* what) {
    const int32_t* expected = want.as<int32_t>();
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] != expected[i]) {
        ADD_FAILURE() << c.name << ": " << what << "[" << i << "] = " << got[i] << ", reference "
                      << expected[i];
        return;
      }
    }
  };
  same(gpu.offsets, h_offsets, "expert_offsets");
  same(gpu.counts, h_counts, "expert_counts");
  same(gpu.slot_to_row, h_slot_to_row, "slot_to_row");
  same(gpu.row_to_slot, h_row_to_slot, "row_to_slot");
  if (!c.gather) return;
  // Rows of the segments match bitwise; past them both sides still hold the poison.
  const int64_t segment_rows = gpu.offsets[E_l];
  ASSERT_EQ(segment_rows, h_offsets.as<int32_t>()[E_l]) << c.name;
  ASSERT_LE(segment_rows, R) << c.name;
  const size_t row_bytes = static_cast<size_t>(H) * dtype_size(permuted_dtype);
  const size_t segment_bytes = static_cast<size_t>(segment_rows) * row_bytes;
  const uint8_t* want = static_cast<const uint8_t*>(h_permuted.data());
  for (int64_t row = 0; row < segment_rows; ++row) {
    const uint8_t* got_row = gpu.permuted.data() + row * row_bytes;
    const uint8_t* want_row = want + row * row_bytes;
    if (std::memcmp(got_row, want_row, row_bytes) != 0) {
      const int64_t byte = std::mismatch(got_row, got_row + row_bytes, want_row).first - got_row;
      ADD_FAILURE() << c.name << ": permuted row " << row << " (slot " << gpu.row_to_slot[row]
                    << ") differs first at column " << byte / static_cast<int64_t>(dtype_size(permuted_dtype));
      return;
    }
  }
  expect_poisoned(c.name + ": GPU permuted tail", gpu.permuted.data(), segment_bytes,
                  gpu.permuted.size());
  expect_poisoned(c.name + ": reference permuted tail", want, segment_bytes, h_permuted.bytes());
  if (!gpu.scales.empty()) {
    const float* want_scales = h_scales.as<float>();
    const size_t segment_scales = static_cast<size_t>(segment_rows * scale_columns);
    for (size_t i = 0; i < segment_scales; ++i) {
      if (std::memcmp(&gpu.scales[i], &want_scales[i], 4) != 0) {
        ADD_FAILURE() << c.name << ": scale " << i << " = " << gpu.scales[i] << ", reference "
                      << want_scales[i];
        return;
      }
    }
    expect_poisoned(c.name + ": GPU scale tail", gpu.scales.data(), segment_scales * 4,
                    gpu.scales.size() * 4);
    expect_poisoned(c.name + ": reference scale tail", want_scales, segment_scales * 4,
                    h_scales.bytes());
  }
}

std::vector<DispatchCase> dispatch_cases() {
  std::vector<DispatchCase> cases;
  auto add = [&](DispatchCase c) { cases.push_back(std::move(c)); };
  // Maps only, single tile and multi tile, both id dtypes, garbage ids, EP.
  for (int32_t tokens : {1, 3, 64, 256, 1000, 16384}) {
    for (bool int64 : {false, true}) {
      DispatchCase c;
      c.name = std::string("maps_dsv3_M") + std::to_string(tokens) + (int64 ? "_i64" : "_i32");
      c.tokens = tokens;
      c.ids_int64 = int64;
      c.ids = int64 ? IdPattern::kGarbage : IdPattern::kRouted;
      c.row_alignment = tokens >= 1000 ? 128 : 8;
      c.gather = false;
      add(c);
    }
  }
  {
    DispatchCase c;  // one tile but R > kSingleTileFillRows: permute_rows writes the -1 rows
    c.name = "maps_single_tile_large_buffer";
    c.tokens = 64;
    c.ids = IdPattern::kGarbage;
    c.row_alignment = 32;
    c.extra_rows = 40000;
    c.gather = false;
    add(c);
  }
  {
    DispatchCase c;
    c.name = "maps_ep_offset";
    c.local_offset = 64;
    c.local_experts = 32;
    c.tokens = 1000;
    c.ids = IdPattern::kGarbage;
    c.row_alignment = 16;
    c.gather = false;
    add(c);
  }
  {
    DispatchCase c;
    c.name = "maps_e1024_k32";
    c.num_experts = 1024;
    c.top_k = 32;
    c.local_offset = 512;
    c.tokens = 300;
    c.ids = IdPattern::kGarbage;
    c.row_alignment = 256;
    c.gather = false;
    add(c);
  }
  // Gathers: every quantization, EP, alignments, tails.
  const ActivationQuant quants[] = {ActivationQuant::kNone, ActivationQuant::kFP8Group128,
                                    ActivationQuant::kFP8PerToken};
  for (ActivationQuant quant : quants) {
    for (int32_t tokens : {1, 3, 64, 1000}) {
      DispatchCase c;
      c.name = std::string("gather_") + activation_quant_name(quant) + "_M" + std::to_string(tokens);
      c.tokens = tokens;
      c.quant = quant;
      c.hidden = tokens >= 1000 ? 512 : tokens >= 64 ? 2048 : 7168;
      c.row_alignment = tokens == 64 ? 128 : 16;
      c.ids = tokens == 3 ? IdPattern::kGarbage : IdPattern::kRouted;
      c.local_offset = tokens == 1000 ? 128 : 0;
      c.local_experts = tokens == 1000 ? 64 : 0;
      c.extra_rows = tokens == 3 ? 77 : 0;
      add(c);
    }
  }
  {
    DispatchCase c;
    c.name = "gather_group128_ue8m0_fp16";
    c.tokens = 200;
    c.quant = ActivationQuant::kFP8Group128;
    c.scale_format = ScaleFormat::kUE8M0;
    c.hidden_dtype = DType::kFloat16;
    c.hidden = 2048 + 64;  // a partial last group
    c.ids = IdPattern::kGarbage;
    c.ids_int64 = true;
    c.row_alignment = 32;
    add(c);
  }
  {
    DispatchCase c;
    c.name = "gather_per_token_ue8m0";
    c.tokens = 50;
    c.quant = ActivationQuant::kFP8PerToken;
    c.scale_format = ScaleFormat::kUE8M0;
    c.hidden = 1008;  // 16-byte rows, not a multiple of 128
    c.row_alignment = 4;
    add(c);
  }
  {
    DispatchCase c;
    c.name = "gather_per_tensor_direct";
    c.tokens = 70;
    c.quant = ActivationQuant::kFP8PerTensor;
    c.hidden = 384;
    c.direct = true;
    c.ids = IdPattern::kGarbage;
    add(c);
  }
  {
    DispatchCase c;  // the fused pipeline's shape under EP: no padding, half the rows are tail
    c.name = "gather_ep_align1_M4096";
    c.local_offset = 128;
    c.local_experts = 128;
    c.tokens = 4096;
    c.hidden = 256;
    c.ids = IdPattern::kGarbage;
    add(c);
  }
  {
    DispatchCase c;  // 1024 local experts: the padding scan runs 8 experts per thread
    c.name = "gather_e1024_group128";
    c.num_experts = 1024;
    c.top_k = 32;
    c.tokens = 300;
    c.hidden = 256;
    c.quant = ActivationQuant::kFP8Group128;
    c.row_alignment = 32;
    add(c);
  }
  {
    DispatchCase c;
    c.name = "gather_qwen3_fp16_M16384";
    c.num_experts = 128;
    c.tokens = 16384;
    c.hidden = 128;
    c.hidden_dtype = DType::kFloat16;
    c.row_alignment = 64;
    add(c);
  }
  return cases;
}

class DispatchVsReference : public ::testing::TestWithParam<DispatchCase> {};

TEST_P(DispatchVsReference, MatchesReferenceBitwise) {
  FUSEDMOE_REQUIRE_SM90();
  run_case(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, DispatchVsReference, ::testing::ValuesIn(dispatch_cases()),
                         [](const ::testing::TestParamInfo<DispatchCase>& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(DispatchGpu, SupportAndWorkspace) {
  MoeConfig moe;
  moe.hidden_size = 7168;
  moe.intermediate_size = 2048;
  moe.num_experts = 256;
  moe.top_k = 8;
  RoutingConfig routing;
  for (EntryPoint entry : {EntryPoint::kRoute, EntryPoint::kDispatch, EntryPoint::kCombine}) {
    const Support support = cuda::supports(moe, routing, entry);
    EXPECT_TRUE(support.supported) << entry_point_name(entry) << ": " << support.reason;
  }
  for (EntryPoint entry : {EntryPoint::kExperts, EntryPoint::kFused, EntryPoint::kRouted,
                           EntryPoint::kPrepare}) {
    const Support support = cuda::supports(moe, routing, entry);
    if (!support.supported) EXPECT_FALSE(support.reason.empty()) << entry_point_name(entry);
  }
  // 64 tokens x 8 slots fit one tile: shared memory only. 16384 tokens: 64 tiles x 256 experts.
  EXPECT_EQ(cuda::dispatch_workspace_bytes(64, 8, 256), 0u);
  EXPECT_EQ(cuda::dispatch_workspace_bytes(16384, 8, 256), size_t{64} * 256 * 4);
  MoePlan plan;
  plan.moe = moe;
  plan.options.max_num_tokens = 16384;
  EXPECT_GE(cuda::workspace_bytes(plan), cuda::dispatch_workspace_bytes(16384, 8, 256));
}

}  // namespace
}  // namespace fusedmoe::testing
