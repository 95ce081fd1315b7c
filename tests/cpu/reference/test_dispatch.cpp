// Dispatch reference: permutation maps (order, padding, dropped and duplicated ids, EP offset),
// the gathered / quantized permuted rows, and the tail past the last segment left untouched.
#include <gtest/gtest.h>

#include <cmath>

#include "core/host_numerics.h"
#include "reference/reference.h"
#include "reference_test_util.h"

namespace fusedmoe::reference {
namespace {

using testing::HostTensor;

struct DispatchResult {
  std::vector<double> offsets, counts, row_to_slot, slot_to_row;
};

struct DispatchBuffers {
  HostTensor offsets, counts, row_to_slot, slot_to_row;
  DispatchMaps maps() const {
    DispatchMaps m;
    m.expert_offsets = offsets;
    m.expert_counts = counts;
    m.row_to_slot = row_to_slot;
    m.slot_to_row = slot_to_row;
    return m;
  }
  DispatchResult result() const {
    return {offsets.values(), counts.values(), row_to_slot.values(), slot_to_row.values()};
  }
};

// Sets every element to `sentinel`, so entries a call writes and entries it leaves alone differ.
void fill(HostTensor& tensor, double sentinel) {
  for (int64_t i = 0; i < tensor.logical_size(); ++i) tensor.set_flat(i, sentinel);
}

DispatchBuffers make_buffers(int64_t local_experts, int64_t rows, int64_t tokens, int64_t top_k) {
  // Pre-filled with a sentinel so every entry the reference must write is checked.
  DispatchBuffers b{HostTensor(DType::kInt32, {local_experts + 1}), HostTensor(DType::kInt32, {local_experts}),
                    HostTensor(DType::kInt32, {rows}), HostTensor(DType::kInt32, {tokens, top_k})};
  for (HostTensor* t : {&b.offsets, &b.counts, &b.row_to_slot, &b.slot_to_row}) fill(*t, 12345);
  return b;
}

MoePlan dispatch_plan(int32_t experts, int32_t top_k, int32_t offset, int32_t local,
                      ActivationQuant quant = ActivationQuant::kNone, int32_t hidden = 4) {
  MoeConfig moe;
  moe.num_experts = experts;
  moe.top_k = top_k;
  moe.local_expert_offset = offset;
  moe.num_local_experts = local;
  moe.hidden_size = hidden;
  moe.activation_quant = quant;
  return testing::make_plan_for_test(moe);
}

TEST(ReferenceDispatch, OrdersRowsByExpertThenTokenThenSlotAndPadsSegments) {
  const MoePlan plan = dispatch_plan(4, 2, 0, 0);
  const HostTensor ids = HostTensor::of(DType::kInt32, {3, 2}, {1, 3, 1, -1, 0, 1});
  DispatchBuffers b = make_buffers(4, 10, 3, 2);
  dispatch(plan, ids, 2, b.maps(), TensorView{}, TensorView{}, TensorView{});
  const DispatchResult r = b.result();
  EXPECT_EQ(r.counts, (std::vector<double>{1, 3, 0, 1}));
  EXPECT_EQ(r.offsets, (std::vector<double>{0, 2, 6, 6, 8}));  // counts rounded up to 2
  // expert 0: slot 4 + pad; expert 1: slots 0, 2, 5 + pad; expert 3: slot 1 + pad; tail unused.
  EXPECT_EQ(r.row_to_slot, (std::vector<double>{4, -1, 0, 2, 5, -1, 1, -1, -1, -1}));
  EXPECT_EQ(r.slot_to_row, (std::vector<double>{2, 6, 3, -1, 0, 4}));
}

TEST(ReferenceDispatch, KeepsOnlyThisRanksExpertsAndDuplicatedIds) {
  // Rank owns experts [4, 6) of 8. Ids 3, 7 and -1 are dropped; the duplicated 5 takes two rows.
  const MoePlan plan = dispatch_plan(8, 2, 4, 2);
  const HostTensor ids = HostTensor::of(DType::kInt64, {3, 2}, {5, 5, 3, 4, 7, -1});
  DispatchBuffers b = make_buffers(2, 6, 3, 2);
  dispatch(plan, ids, 1, b.maps(), TensorView{}, TensorView{}, TensorView{});
  const DispatchResult r = b.result();
  EXPECT_EQ(r.counts, (std::vector<double>{1, 2}));
  EXPECT_EQ(r.offsets, (std::vector<double>{0, 1, 3}));
  EXPECT_EQ(r.row_to_slot, (std::vector<double>{3, 0, 1, -1, -1, -1}));
  EXPECT_EQ(r.slot_to_row, (std::vector<double>{1, 2, -1, 0, -1, -1}));
}

TEST(ReferenceDispatch, RejectsABufferTooSmallForThePaddedRows) {
  const MoePlan plan = dispatch_plan(2, 1, 0, 0);
  const HostTensor ids = HostTensor::of(DType::kInt32, {2, 1}, {0, 1});
  DispatchBuffers b = make_buffers(2, 4, 2, 1);
  EXPECT_THROW(dispatch(plan, ids, 4, b.maps(), TensorView{}, TensorView{}, TensorView{}), Error);
}

TEST(ReferenceDispatch, GathersRowsWithZeroPaddingFromAStridedSource) {
  const MoePlan plan = dispatch_plan(2, 1, 0, 0);
  const HostTensor ids = HostTensor::of(DType::kInt32, {2, 1}, {1, 0});
  const HostTensor hidden =
      HostTensor::of(DType::kBFloat16, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}, /*row_padding=*/3);
  HostTensor permuted(DType::kBFloat16, {6, 4});  // two rows past the segments
  fill(permuted, 99);
  DispatchBuffers b = make_buffers(2, 6, 2, 1);
  dispatch(plan, ids, 2, b.maps(), hidden, permuted, TensorView{});
  EXPECT_EQ(b.result().row_to_slot, (std::vector<double>{1, -1, 0, -1, -1, -1}));
  EXPECT_EQ(permuted.values(), (std::vector<double>{5, 6, 7, 8, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0,
                                                    99, 99, 99, 99, 99, 99, 99, 99}));
}

TEST(ReferenceDispatch, LeavesRowsPastTheLastSegmentUntouched) {
  // Rank owns experts [2, 4) of 4, row_alignment 2: R = 3 * 2 + 2 * 1 = 8. Token 0 -> expert 2,
  // token 2 -> experts 2 and 3; everything else is another rank's. Segments: [0, 2) expert 2,
  // [2, 4) expert 3 (one padding row); rows 4..7 are the tail.
  const MoePlan plan = dispatch_plan(4, 2, 2, 2, ActivationQuant::kFP8Group128, 128);
  const HostTensor ids = HostTensor::of(DType::kInt32, {3, 2}, {2, 0, 1, -1, 3, 2});
  std::vector<double> rows(3 * 128, 0.0);
  for (int64_t t = 0; t < 3; ++t) rows[t * 128] = 448.0 * (t + 1);  // scale t + 1
  const HostTensor hidden = HostTensor::of(DType::kBFloat16, {3, 128}, rows);
  HostTensor permuted(DType::kFloat8E4M3, {8, 128});
  HostTensor scales(DType::kFloat32, {8, 1});
  fill(permuted, 3.0);
  fill(scales, -7.0);
  DispatchBuffers b = make_buffers(2, 8, 3, 2);
  dispatch(plan, ids, 2, b.maps(), hidden, permuted, scales);
  const DispatchResult r = b.result();
  EXPECT_EQ(r.offsets, (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(r.row_to_slot, (std::vector<double>{0, 5, 4, -1, -1, -1, -1, -1}));
  EXPECT_EQ(scales.values(), (std::vector<double>{1, 3, 3, 1, -7, -7, -7, -7}));
  EXPECT_EQ(permuted.at({0, 0}), 448.0);
  EXPECT_EQ(permuted.at({2, 0}), 448.0);
  for (int64_t h = 0; h < 128; ++h) {
    EXPECT_EQ(permuted.at({3, h}), 0.0) << "padding row, column " << h;
    for (int64_t row = 4; row < 8; ++row) EXPECT_EQ(permuted.at({row, h}), 3.0) << "tail row " << row;
  }
}

TEST(ReferenceDispatch, Fp8Group128QuantizesEachGroupWithItsOwnScale) {
  // H = 160: one full group and a partial group of 32.
  const MoePlan plan = dispatch_plan(1, 1, 0, 0, ActivationQuant::kFP8Group128, 160);
  const HostTensor ids = HostTensor::of(DType::kInt32, {1, 1}, {0});
  std::vector<double> row(160, 0.0);
  row[3] = 448.0 * 2.0;  // group 0 amax 896 -> scale 2
  row[4] = -3.0;         // -1.5 in e4m3 units
  row[130] = 0.5;        // group 1 amax 0.5 -> scale 0.5/448
  const HostTensor hidden = HostTensor::of(DType::kFloat16, {1, 160}, row);
  HostTensor permuted(DType::kFloat8E4M3, {2, 160});
  HostTensor scales(DType::kFloat32, {2, 2});
  fill(scales, -7.0);
  DispatchBuffers b = make_buffers(1, 2, 1, 1);
  dispatch(plan, ids, 2, b.maps(), hidden, permuted, scales);
  EXPECT_EQ(scales.values(), (std::vector<double>{2.0, static_cast<float>(0.5f / 448.0f), 1.0, 1.0}));
  EXPECT_EQ(permuted.at({0, 3}), 448.0);
  EXPECT_EQ(permuted.at({0, 4}), -1.5);
  EXPECT_EQ(permuted.at({0, 130}), 448.0);
  EXPECT_EQ(permuted.at({1, 3}), 0.0);  // padding row
}

TEST(ReferenceDispatch, Fp8UE8M0ScalesArePowersOfTwoRoundedUp) {
  MoePlan plan = dispatch_plan(1, 1, 0, 0, ActivationQuant::kFP8Group128, 128);
  plan.moe.activation_scale_format = ScaleFormat::kUE8M0;
  const HostTensor ids = HostTensor::of(DType::kInt32, {1, 1}, {0});
  std::vector<double> row(128, 1.0);
  row[0] = 500.0;  // amax/448 = 1.116 -> 2
  const HostTensor hidden = HostTensor::of(DType::kBFloat16, {1, 128}, row);
  HostTensor permuted(DType::kFloat8E4M3, {1, 128});
  HostTensor scales(DType::kFloat32, {1, 1});
  DispatchBuffers b = make_buffers(1, 1, 1, 1);
  dispatch(plan, ids, 1, b.maps(), hidden, permuted, scales);
  EXPECT_EQ(scales.at({0, 0}), 2.0);
  EXPECT_EQ(permuted.at({0, 0}), 256.0);  // bf16(500) = 500 -> 250 -> e4m3 256
  EXPECT_EQ(permuted.at({0, 1}), 0.5);
}

TEST(ReferenceDispatch, Fp8PerTokenWritesOneScalePerRow) {
  const MoePlan plan = dispatch_plan(2, 1, 0, 0, ActivationQuant::kFP8PerToken, 4);
  const HostTensor ids = HostTensor::of(DType::kInt32, {2, 1}, {0, 1});
  const HostTensor hidden = HostTensor::of(DType::kBFloat16, {2, 4}, {1, -2, 0.5, 4, 0, 0, 0, 0});
  HostTensor permuted(DType::kFloat8E4M3, {3, 4});
  HostTensor scales(DType::kFloat32, {3});
  fill(scales, -7.0);
  DispatchBuffers b = make_buffers(2, 3, 2, 1);
  dispatch(plan, ids, 1, b.maps(), hidden, permuted, scales);
  // Token 1's all-zero row: scale 1. Row 2 is past the segments: left as it was.
  EXPECT_EQ(scales.values(), (std::vector<double>{4.0f / 448.0f, 1.0, -7.0}));
  EXPECT_EQ(permuted.at({0, 3}), 448.0);
  EXPECT_NEAR(permuted.at({0, 1}) * scales.at({0}), -2.0, 2.0 / 16);
}

TEST(ReferenceDispatch, Fp8PerTensorUsesTheGivenStaticScale) {
  const MoePlan plan = dispatch_plan(1, 1, 0, 0, ActivationQuant::kFP8PerTensor, 4);
  const HostTensor ids = HostTensor::of(DType::kInt32, {1, 1}, {0});
  const HostTensor hidden = HostTensor::of(DType::kBFloat16, {1, 4}, {1, -2, 1000, 0.25});
  HostTensor permuted(DType::kFloat8E4M3, {1, 4});
  HostTensor scale = HostTensor::of(DType::kFloat32, {1}, {0.5});
  DispatchBuffers b = make_buffers(1, 1, 1, 1);
  dispatch(plan, ids, 1, b.maps(), hidden, permuted, scale);
  EXPECT_EQ(permuted.values(), (std::vector<double>{2, -4, 448, 0.5}));  // 2000 saturates
  EXPECT_EQ(scale.at({0}), 0.5);  // an input, left as given
}

}  // namespace
}  // namespace fusedmoe::reference
