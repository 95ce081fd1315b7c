// Device, backend, alignment, workspace and token-limit errors. "CUDA" tensors here carry fake
// pointers: validation must reject (or accept) them from metadata alone, on a machine without a
// GPU too. No test calls a CUDA entry point with arguments that pass validation, since that
// would launch a kernel on the fake memory.
#include <gtest/gtest.h>

#include "core/validate.h"
#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

class ValidationDevices : public ::testing::Test {
 protected:
  Device validate_fused() {
    return detail::validate_fused(plan_, fused_.inputs, fused_.weights, fused_.output,
                                  fused_.workspace);
  }

  TensorFactory gpu_{cuda_device(0)};
  TensorFactory host_{cpu_device()};
  MoePlan plan_ = cuda_plan();
  FusedArgs fused_ = fused_args(gpu_, plan_);
};

TEST_F(ValidationDevices, CudaFusedArgumentsPassOnFakePointers) {
  const Device device = validate_fused();
  EXPECT_EQ(device.type, DeviceType::kCUDA);
  EXPECT_EQ(device.index, 0);
}

TEST_F(ValidationDevices, CudaModularArgumentsPassOnFakePointers) {
  const RouteArgs route = route_args(gpu_, plan_);
  EXPECT_NO_THROW(detail::validate_route(plan_, route.inputs, route.topk_ids, route.topk_weights,
                                         route.workspace));
  const DispatchArgs dispatch = dispatch_args(gpu_, plan_);
  EXPECT_NO_THROW(detail::validate_dispatch(
      plan_, dispatch.topk_ids, dispatch.row_alignment, dispatch.maps, dispatch.hidden_states,
      dispatch.permuted_hidden, dispatch.permuted_hidden_scale, dispatch.workspace));
  const ExpertsArgs experts = experts_args(gpu_, plan_);
  EXPECT_NO_THROW(detail::validate_experts(plan_, experts.inputs, experts.weights,
                                           experts.expert_output, experts.workspace));
  const CombineArgs combine = combine_args(gpu_, plan_);
  EXPECT_NO_THROW(detail::validate_combine(plan_, combine.inputs, combine.output));
}

TEST_F(ValidationDevices, RejectsHostTensorsWithCudaPlan) {
  const FusedArgs host_args = fused_args(host_, cuda_plan());
  expect_invalid(
      [&] {
        detail::validate_fused(plan_, host_args.inputs, fused_.weights, host_args.output, {});
      },
      {"'plan.options.backend'", "expected cpu-reference for tensors on cpu:0",
       "'inputs.hidden_states' is there", "got cuda-sm90"});
}

TEST_F(ValidationDevices, RejectsCudaTensorsWithCpuPlan) {
  const MoePlan cpu = cpu_plan();
  expect_invalid(
      [&] { moe_fused(cpu, fused_.inputs, fused_.weights, fused_.output, {}, nullptr); },
      {"'plan.options.backend'", "expected cuda-sm90 for tensors on cuda:0", "got cpu-reference"});
}

TEST_F(ValidationDevices, RejectsOneHostTensorAmongCudaTensors) {
  fused_.inputs.routing.router_logits = host_.make(DType::kFloat32, {kTokens, 8});
  expect_invalid(
      [&] { validate_fused(); },
      {"'inputs.routing.router_logits'", "expected a tensor on cuda:0", "got a tensor on cpu:0"});
}

TEST_F(ValidationDevices, RejectsTensorOnAnotherGpu) {
  TensorFactory second_gpu(cuda_device(1));
  fused_.weights.w2 = second_gpu.make(DType::kBFloat16, {8, 256, 128});
  expect_invalid([&] { validate_fused(); },
                 {"'weights.w2'", "expected a tensor on cuda:0", "got a tensor on cuda:1"});
}

TEST_F(ValidationDevices, RejectsUnknownDeviceType) {
  fused_.inputs.hidden_states.device.type = static_cast<DeviceType>(3);
  expect_invalid([&] { validate_fused(); },
                 {"'inputs.hidden_states'", "the CPU or a CUDA device", "got device type 3"});
}

TEST_F(ValidationDevices, RejectsHiddenStatesNotAlignedTo16Bytes) {
  fused_.inputs.hidden_states.data = static_cast<char*>(fused_.inputs.hidden_states.data) + 2;
  expect_invalid([&] { validate_fused(); },
                 {"'inputs.hidden_states'", "aligned to 16 bytes", "got address with offset 2"});
}

TEST_F(ValidationDevices, RejectsOutputRowStrideNotMultipleOf16Bytes) {
  fused_.output = gpu_.strided(DType::kBFloat16, {kTokens, 256}, {260, 1}, kTokens * 260 * 2);
  expect_invalid([&] { validate_fused(); },
                 {"'output'", "row stride of dimension 0 a multiple of 16 bytes", "got 520 bytes"});
}

TEST_F(ValidationDevices, RejectsMisalignedInt32Pointer) {
  RouteArgs route = route_args(gpu_, plan_);
  route.topk_ids.data = static_cast<char*>(route.topk_ids.data) + 2;
  expect_invalid(
      [&] {
        detail::validate_route(plan_, route.inputs, route.topk_ids, route.topk_weights,
                               route.workspace);
      },
      {"'topk_ids'", "aligned to 4 bytes", "got address with offset 2"});
}

TEST_F(ValidationDevices, RejectsCheckpointWeightsOnCuda) {
  fused_.weights.layout = WeightLayout::kCheckpoint;
  expect_invalid([&] { validate_fused(); }, {"'weights.layout'", "expected sm90-prepared",
                                             "prepare_weights", "got checkpoint"});
}

TEST_F(ValidationDevices, RejectsMoreTokensThanThePlanWasMadeFor) {
  plan_ = cuda_plan(small_moe(), {}, kTokens - 1);
  expect_invalid(
      [&] { validate_fused(); },
      {"'inputs.hidden_states'", "at most plan.options.max_num_tokens = 3", "got 4 tokens"});
}

TEST_F(ValidationDevices, CpuPlanBoundsTokensOnlyWhenAsked) {
  TensorFactory host(cpu_device());
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.max_num_tokens = 2;
  const MoePlan bounded = make_plan(small_moe(), {}, options);
  const FusedArgs args = fused_args(host, bounded);
  expect_invalid(
      [&] { detail::validate_fused(bounded, args.inputs, args.weights, args.output, {}); },
      {"'inputs.hidden_states'", "max_num_tokens = 2", "got 4 tokens"});
  EXPECT_NO_THROW(detail::validate_fused(cpu_plan(), args.inputs, args.weights, args.output, {}));
}

TEST_F(ValidationDevices, RejectsExpertRowsBeyondTheWorkspaceBound) {
  plan_ = cuda_plan(small_moe(), {}, 1);
  ExpertsArgs experts = experts_args(gpu_, plan_);
  // Bound: max_num_tokens * top_k + E_l * 255 = 1 * 2 + 8 * 255 = 2042 rows.
  experts.inputs.hidden_states = gpu_.make(DType::kBFloat16, {4096, 256});
  expect_invalid(
      [&] {
        detail::validate_experts(plan_, experts.inputs, experts.weights, experts.expert_output,
                                 experts.workspace);
      },
      {"'inputs.hidden_states'", "at most 2042 rows", "got 4096 rows"});
}

TEST_F(ValidationDevices, RejectsWorkspaceSmallerThanThePlans) {
  const size_t needed = plan_.workspace_bytes;
  ASSERT_GT(needed, 1u);
  fused_.workspace = Workspace{gpu_.make(DType::kUInt8, {16}).data, needed - 1};
  expect_invalid([&] { validate_fused(); },
                 {"'workspace.bytes'", "at least plan.workspace_bytes = " + std::to_string(needed),
                  "got " + std::to_string(needed - 1)});
}

TEST_F(ValidationDevices, RejectsWorkspaceWithNullData) {
  const size_t needed = plan_.workspace_bytes;
  ASSERT_GT(needed, 0u);
  fused_.workspace = Workspace{nullptr, needed};
  expect_invalid([&] { validate_fused(); },
                 {"'workspace.data'", "a device pointer to " + std::to_string(needed) + " bytes",
                  "got nullptr"});
}

TEST_F(ValidationDevices, RejectsHandEditedPlanWithTooSmallWorkspace) {
  plan_ = cuda_plan(small_moe(), {}, 1 << 16);
  if (plan_.workspace_bytes == 0) GTEST_SKIP() << "this build's dispatch needs no workspace";
  const DispatchArgs dispatch = dispatch_args(gpu_, plan_);
  const size_t needed = plan_.workspace_bytes;
  plan_.workspace_bytes = 0;
  expect_invalid(
      [&] {
        detail::validate_dispatch(plan_, dispatch.topk_ids, dispatch.row_alignment, dispatch.maps,
                                  TensorView{}, TensorView{}, TensorView{}, Workspace{});
      },
      {"'plan.workspace_bytes'", "at least " + std::to_string(needed), "got 0"});
}

// Bad input is reported as such even where this build has no kernel for the entry point: the
// error must not depend on which kernels exist.
TEST_F(ValidationDevices, CudaEntryPointValidatesBeforeCheckingSupport) {
  fused_.output = gpu_.make(DType::kFloat16, {kTokens, 256});
  expect_invalid(
      [&] {
        moe_fused(plan_, fused_.inputs, fused_.weights, fused_.output, fused_.workspace, nullptr);
      },
      {"'output'", "got float16"});
  RouteArgs route = route_args(gpu_, plan_);
  route.topk_weights = TensorView{};
  expect_invalid(
      [&] {
        moe_route(plan_, route.inputs, route.topk_ids, route.topk_weights, route.workspace,
                  nullptr);
      },
      {"'topk_weights'", "got none"});
}

TEST_F(ValidationDevices, PrepareRejectsAlreadyPreparedWeights) {
  ExpertWeights weights = make_weights(gpu_, plan_);
  expect_invalid([&] { prepare_weights(plan_.moe, Backend::kCudaSm90, weights, {}, nullptr); },
                 {"'weights.layout'", "expected checkpoint", "got sm90-prepared"});
}

TEST_F(ValidationDevices, PrepareRejectsWeightsOnTheOtherBackendsDevice) {
  ExpertWeights weights = make_weights(host_, cpu_plan());
  expect_invalid([&] { prepare_weights(plan_.moe, Backend::kCudaSm90, weights, {}, nullptr); },
                 {"'backend'", "expected cpu-reference for tensors on cpu:0", "got cuda-sm90"});
}

TEST_F(ValidationDevices, PrepareOnCpuValidatesAndKeepsCheckpointLayout) {
  ExpertWeights weights = make_weights(host_, cpu_plan());
  EXPECT_EQ(prepare_scratch_bytes(small_moe(), Backend::kCpuReference), 0u);
  prepare_weights(small_moe(), Backend::kCpuReference, weights, {}, nullptr);
  EXPECT_EQ(weights.layout, WeightLayout::kCheckpoint);
  weights.w13_scale = host_.make(DType::kFloat32, {8});
  expect_invalid(
      [&] { prepare_weights(small_moe(), Backend::kCpuReference, weights, {}, nullptr); },
      {"'weights.w13_scale'", "expected no tensor"});
}

}  // namespace
}  // namespace fusedmoe::testing
