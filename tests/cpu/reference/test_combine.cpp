// Combine reference: weighted fixed-order sum, -1 rows, routed_scaling_factor applied once, shared
// output added after scaling.
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference_test_util.h"

namespace fusedmoe::reference {
namespace {

using testing::HostTensor;

struct CombineCase {
  HostTensor expert_output = HostTensor::of(DType::kBFloat16, {3, 2}, {2, 4, 100, 100, 4, 8});
  HostTensor slot_to_row = HostTensor::of(DType::kInt32, {1, 3}, {0, -1, 2});
  HostTensor weights = HostTensor::of(DType::kFloat32, {1, 3}, {0.5, 9.0, 0.25});
  HostTensor shared = HostTensor::of(DType::kBFloat16, {1, 2}, {1, -1});
};

std::vector<double> run_combine(const CombineCase& c, float scaling, bool with_weights, bool with_shared) {
  MoeConfig moe;
  moe.hidden_size = 2;
  moe.top_k = 3;
  RoutingConfig routing;
  routing.routed_scaling_factor = scaling;
  CombineInputs inputs;
  inputs.expert_output = c.expert_output;
  inputs.slot_to_row = c.slot_to_row;
  if (with_weights) inputs.topk_weights = c.weights;
  if (with_shared) inputs.shared_output = c.shared;
  HostTensor out(DType::kBFloat16, {1, 2});
  combine(testing::make_plan_for_test(moe, routing), inputs, out);
  return out.values();
}

TEST(ReferenceCombine, WeighsRowsSkipsMinusOneAndAddsSharedAfterScaling) {
  // 2 * (0.5 * [2, 4] + 0.25 * [4, 8]) + [1, -1] = [5, 7]; row 1 (slot -1) adds nothing.
  EXPECT_EQ(run_combine(CombineCase{}, 2.0f, true, true), (std::vector<double>{5, 7}));
}

TEST(ReferenceCombine, WithoutTopKWeightsRowsAreSummedAsGiven) {
  // 2 * ([2, 4] + [4, 8]) + [1, -1] = [13, 23]
  EXPECT_EQ(run_combine(CombineCase{}, 2.0f, false, true), (std::vector<double>{13, 23}));
}

TEST(ReferenceCombine, RoutedScalingFactorScalesTheRoutedSumExactlyOnce) {
  const std::vector<double> once = run_combine(CombineCase{}, 1.0f, true, false);
  const std::vector<double> doubled = run_combine(CombineCase{}, 2.0f, true, false);
  EXPECT_EQ(once, (std::vector<double>{2, 4}));
  EXPECT_EQ(doubled, (std::vector<double>{4, 8}));
}

TEST(ReferenceCombine, RoundsTheSumOnceToTheOutputDtype) {
  // bf16 spacing at 1 is 2^-7: 1 + 2^-8 alone is a tie that rounds to 1, so 1 + 2^-8 + 2^-8
  // gives 1 + 2^-7 only when the sum is rounded once, at the end.
  CombineCase c;
  c.expert_output = HostTensor::of(DType::kFloat32, {3, 2}, {1, 1, 0x1p-8, 0x1p-8, 0x1p-8, 0x1p-8});
  c.slot_to_row = HostTensor::of(DType::kInt32, {1, 3}, {0, 1, 2});
  EXPECT_EQ(run_combine(c, 1.0f, false, false), (std::vector<double>{1.0 + 0x1p-7, 1.0 + 0x1p-7}));
}

TEST(ReferenceCombine, RejectsARowPastTheExpertOutput) {
  CombineCase c;
  c.slot_to_row = HostTensor::of(DType::kInt32, {1, 3}, {0, 3, 2});  // expert_output has 3 rows
  EXPECT_THROW(run_combine(c, 1.0f, true, false), Error);
}

}  // namespace
}  // namespace fusedmoe::reference
