// The weight-streaming expert GEMMs (src/gemm/sm90/sm90_streaming_experts.cu) list an expert's
// rows either from dispatched buffers or straight from the top-k ids (the decode path without a
// dispatch kernel). With -1 ids, ids of other ranks' experts and a local expert twice in one
// token, the rows listed from ids give, slot by slot, bitwise the rows the dispatched layout
// gives, for GEMM1 + SwiGLU and GEMM2 (every token tile, one and several column slices per CTA),
// and the slots of no local expert stay untouched.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gemm/sm90/streaming_experts.h"
#include "gpu/gpu_test_common.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe {
namespace {

using testing::cuda_or_throw;
using testing::DeviceBuffer;

TEST(StreamingTopkRows, RowsListedFromTopkIdsEqualDispatchedRowsSlotBySlot) {
  FUSEDMOE_REQUIRE_SM90();
  // 9 tokens x top-6 = 54 slots over 12 global experts; this rank owns experts 3..8. Ids: -1,
  // other ranks' experts, and a local expert twice in one token.
  const int64_t tokens = 9, top_k = 6, global_experts = 12, local_offset = 3, local = 6;
  const int64_t hidden = 1088, inter = 200, slots = tokens * top_k;
  std::mt19937_64 rng(testing::case_seed("streaming_topk_rows"));
  std::vector<int32_t> ids(static_cast<size_t>(slots));
  std::uniform_int_distribution<int32_t> pick(-1, static_cast<int32_t>(global_experts) - 1);
  for (auto& id : ids) id = pick(rng);
  ids[1] = ids[0] = 5;
  ids[7] = -1;
  ids[8] = 11;

  // The dispatched layout of the same ids: each local expert's slots in slot order.
  std::vector<int32_t> offsets = {0}, row_to_slot;
  for (int64_t expert = 0; expert < local; ++expert) {
    for (int64_t slot = 0; slot < slots; ++slot) {
      if (ids[static_cast<size_t>(slot)] == local_offset + expert) row_to_slot.push_back(static_cast<int32_t>(slot));
    }
    offsets.push_back(static_cast<int32_t>(row_to_slot.size()));
  }
  const int64_t rows = static_cast<int64_t>(row_to_slot.size());
  ASSERT_GT(rows, 0);

  const std::vector<uint8_t> hidden_bf16 = testing::encode_floats(
      testing::random_normal(rng, static_cast<size_t>(tokens * hidden), 1.0f), DType::kBFloat16);
  const std::vector<uint8_t> w13_bf16 = testing::encode_floats(
      testing::random_normal(rng, static_cast<size_t>(local * 2 * inter * hidden), 0.05f), DType::kBFloat16);
  const std::vector<uint8_t> w2_bf16 = testing::encode_floats(
      testing::random_normal(rng, static_cast<size_t>(local * hidden * inter), 0.05f), DType::kBFloat16);
  DeviceBuffer hidden_device(hidden_bf16.size()), w13_device(w13_bf16.size()), w2_device(w2_bf16.size());
  hidden_device.upload(hidden_bf16);
  w13_device.upload(w13_bf16);
  w2_device.upload(w2_bf16);
  DeviceBuffer ids_device(ids.size() * sizeof(int32_t)), offsets_device(offsets.size() * sizeof(int32_t)),
      row_to_slot_device(row_to_slot.size() * sizeof(int32_t));
  ids_device.upload(ids);
  offsets_device.upload(offsets);
  row_to_slot_device.upload(row_to_slot);
  DeviceBuffer act_rows(static_cast<size_t>(rows * inter) * 2), out_rows(static_cast<size_t>(rows * hidden) * 2);
  DeviceBuffer act_slots(static_cast<size_t>(slots * inter) * 2), out_slots(static_cast<size_t>(slots * hidden) * 2);

  sm90::ExpertRows dispatched;
  dispatched.layout = sm90::GroupRows::kOffsets;
  dispatched.offsets = static_cast<const int32_t*>(offsets_device.data());
  dispatched.num_experts = static_cast<int32_t>(local);
  dispatched.max_rows = rows;
  sm90::ExpertRows listed;
  listed.layout = sm90::GroupRows::kTopkIds;
  listed.topk_ids = static_cast<const int32_t*>(ids_device.data());
  listed.topk_ids_row_stride = top_k;
  listed.top_k = static_cast<int32_t>(top_k);
  listed.local_expert_offset = static_cast<int32_t>(local_offset);
  listed.num_experts = static_cast<int32_t>(local);
  listed.max_rows = slots;

  auto gemm1 = [&](const sm90::ExpertRows& expert_rows, int token_tile, void* out) {
    sm90::StreamingGemmParams params;
    params.rows = expert_rows;
    params.max_active_experts = static_cast<int32_t>(local);
    params.x = hidden_device.data();
    params.k = hidden;
    params.x_slots_top_k = static_cast<int32_t>(top_k);
    if (expert_rows.layout == sm90::GroupRows::kOffsets) {
      params.x_slots = static_cast<const int32_t*>(row_to_slot_device.data());
    }
    params.w = w13_device.data();
    params.w_rows = 2 * inter;
    params.out = out;
    params.out_columns = inter;
    params.activation = Activation::kSwiGLU;
    sm90::launch_streaming_gemm1(params, token_tile, nullptr);
  };
  auto gemm2 = [&](const sm90::ExpertRows& expert_rows, int token_tile, int32_t column_slices, const void* x,
                   void* out) {
    sm90::StreamingGemmParams params;
    params.rows = expert_rows;
    params.max_active_experts = static_cast<int32_t>(local);
    params.x = x;
    params.k = inter;
    params.w = w2_device.data();
    params.w_rows = hidden;
    params.out = out;
    params.out_columns = hidden;
    params.column_slices = column_slices;
    sm90::launch_streaming_gemm2(params, token_tile, nullptr);
  };

  for (const int token_tile : {8, 16, 64}) {
    for (const int32_t column_slices : {0, 3}) {
      const std::string label = "token tile " + std::to_string(token_tile) + ", " +
                                (column_slices > 0 ? std::to_string(column_slices) : "auto") + " GEMM2 slices per CTA";
      for (DeviceBuffer* buffer : {&act_rows, &out_rows, &act_slots, &out_slots}) buffer->poison(0xff);
      cuda_or_throw(cudaDeviceSynchronize(), "poison");
      gemm1(dispatched, token_tile, act_rows.data());
      gemm2(dispatched, token_tile, column_slices, act_rows.data(), out_rows.data());
      gemm1(listed, token_tile, act_slots.data());
      gemm2(listed, token_tile, column_slices, act_slots.data(), out_slots.data());
      cuda_or_throw(cudaDeviceSynchronize(), "streaming GEMMs");
      const std::vector<uint16_t> act_by_row = act_rows.download_all<uint16_t>();
      const std::vector<uint16_t> out_by_row = out_rows.download_all<uint16_t>();
      const std::vector<uint16_t> act_by_slot = act_slots.download_all<uint16_t>();
      const std::vector<uint16_t> out_by_slot = out_slots.download_all<uint16_t>();
      std::vector<char> listed_slot(static_cast<size_t>(slots), 0);
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t slot = row_to_slot[static_cast<size_t>(row)];
        listed_slot[static_cast<size_t>(slot)] = 1;
        const bool act_equal = std::equal(act_by_row.begin() + row * inter, act_by_row.begin() + (row + 1) * inter,
                                          act_by_slot.begin() + slot * inter);
        const bool out_equal = std::equal(out_by_row.begin() + row * hidden, out_by_row.begin() + (row + 1) * hidden,
                                          out_by_slot.begin() + slot * hidden);
        EXPECT_TRUE(act_equal) << label << ": GEMM1 row of slot " << slot << " differs from dispatched row " << row;
        EXPECT_TRUE(out_equal) << label << ": GEMM2 row of slot " << slot << " differs from dispatched row " << row;
      }
      for (int64_t slot = 0; slot < slots; ++slot) {
        if (listed_slot[static_cast<size_t>(slot)]) continue;
        const bool untouched = std::all_of(out_by_slot.begin() + slot * hidden, out_by_slot.begin() + (slot + 1) * hidden,
                                           [](uint16_t bits) { return bits == 0xffff; });
        EXPECT_TRUE(untouched) << label << ": slot " << slot << " (id " << ids[static_cast<size_t>(slot)]
                               << ", no local expert) was written";
      }
    }
  }
}

}  // namespace
}  // namespace fusedmoe
