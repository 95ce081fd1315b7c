// make_plan: validated configuration in, workspace size out; cuda-sm90 plans are made whatever
// kernels the build has (entry points report what is missing).
#include <gtest/gtest.h>

#include "core/cuda_backend.h"
#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

TEST(Plan, CpuPlanKeepsTheConfigurationAndNeedsNoWorkspace) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kTopKSoftmax;
  routing.routed_scaling_factor = 2.5f;
  const MoePlan plan = cpu_plan(small_moe(), routing);
  EXPECT_EQ(plan.moe.hidden_size, 256);
  EXPECT_EQ(plan.moe.top_k, 2);
  EXPECT_EQ(plan.routing.method, RoutingMethod::kTopKSoftmax);
  EXPECT_EQ(plan.routing.routed_scaling_factor, 2.5f);
  EXPECT_EQ(plan.options.backend, Backend::kCpuReference);
  EXPECT_EQ(plan.workspace_bytes, 0u);
}

TEST(Plan, CpuPlanAllowsUnboundedTokenCount) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.max_num_tokens = 0;
  EXPECT_NO_THROW(make_plan(small_moe(), {}, options));
}

TEST(Plan, CudaPlanIsMadeEvenWhereKernelsAreMissing) {
  const MoePlan plan = cuda_plan(small_moe(), {}, 128);
  EXPECT_EQ(plan.options.backend, Backend::kCudaSm90);
  EXPECT_EQ(plan.options.max_num_tokens, 128);
  EXPECT_EQ(plan.workspace_bytes, cuda::workspace_bytes(plan));
}

TEST(Plan, CudaPlanNeedsAtLeastOneToken) {
  expect_invalid([] { cuda_plan(small_moe(), {}, 0); }, {"'options.max_num_tokens'", "got 0"});
}

TEST(Plan, ForcedTacticNeedsAForcedKernelThatHasIt) {
  PlanOptions options;
  options.backend = Backend::kCudaSm90;
  options.max_num_tokens = 16;
  options.tactic = 0;
  expect_error([&] { make_plan(small_moe(), {}, options); }, ErrorKind::kUnsupported,
               {"options.tactic = 0", "expert_kernel 'auto'", "heuristic default (-1)"});
  options.expert_kernel = ExpertKernel::kGroupedTile;
  EXPECT_EQ(make_plan(small_moe(), {}, options).options.tactic, 0);
  options.tactic = 4;
  EXPECT_EQ(make_plan(small_moe(), {}, options).options.tactic, 4);
  options.tactic = 5;
  expect_error([&] { make_plan(small_moe(), {}, options); }, ErrorKind::kUnsupported,
               {"options.tactic = 5", "expert_kernel 'grouped-tile'", "0..4 for grouped-tile"});
  options.expert_kernel = ExpertKernel::kWeightStreaming;
  options.tactic = 4;
  expect_error([&] { make_plan(small_moe(), {}, options); }, ErrorKind::kUnsupported,
               {"options.tactic = 4", "expert_kernel 'weight-streaming'", "0..3 for weight-streaming"});
  options.tactic = 3;
  EXPECT_EQ(make_plan(small_moe(), {}, options).options.tactic, 3);
}

TEST(Plan, ForcedGemm2TileNeedsTheGroupedTileKernel) {
  PlanOptions options;
  options.backend = Backend::kCudaSm90;
  options.max_num_tokens = 16;
  options.gemm2_tactic = 4;
  expect_error([&] { make_plan(small_moe(), {}, options); }, ErrorKind::kUnsupported,
               {"options.gemm2_tactic = 4", "expert_kernel 'auto'", "grouped-tile kernel only"});
  options.expert_kernel = ExpertKernel::kWeightStreaming;
  expect_error([&] { make_plan(small_moe(), {}, options); }, ErrorKind::kUnsupported,
               {"options.gemm2_tactic = 4", "expert_kernel 'weight-streaming'"});
  options.expert_kernel = ExpertKernel::kGroupedTile;
  EXPECT_EQ(make_plan(small_moe(), {}, options).options.gemm2_tactic, 4);
  options.tactic = 3;  // GEMM1 on 128x256, GEMM2 on 64x256
  EXPECT_EQ(make_plan(small_moe(), {}, options).options.tactic, 3);
  options.gemm2_tactic = 5;
  expect_error([&] { make_plan(small_moe(), {}, options); }, ErrorKind::kUnsupported,
               {"options.gemm2_tactic = 5", "0..4"});
  options.gemm2_tactic = -2;
  expect_invalid([&] { make_plan(small_moe(), {}, options); },
                 {"'options.gemm2_tactic'", "-1 = GEMM1's tile", "got -2"});
}

TEST(Plan, ExpertParallelPlanCountsLocalExperts) {
  MoeConfig moe = small_moe();
  moe.local_expert_offset = 6;
  const MoePlan plan = cpu_plan(moe);
  EXPECT_EQ(plan.moe.local_experts(), 2);
}

TEST(Plan, PrepareScratchBytesValidatesTheConfig) {
  MoeConfig moe = small_moe();
  EXPECT_EQ(prepare_scratch_bytes(moe, Backend::kCpuReference), 0u);
  EXPECT_EQ(prepare_scratch_bytes(moe, Backend::kCudaSm90), cuda::prepare_scratch_bytes(moe));
  moe.hidden_size = -4;
  expect_invalid([&] { prepare_scratch_bytes(moe, Backend::kCpuReference); },
                 {"'moe.hidden_size'", "got -4"});
}

}  // namespace
}  // namespace fusedmoe::testing
