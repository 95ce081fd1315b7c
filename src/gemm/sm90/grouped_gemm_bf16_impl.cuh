// The grouped bf16 GEMM of grouped_gemm_bf16.h as a template over the CUTLASS tile configuration;
// each grouped_gemm_bf16_tile*.cu instantiates one configuration (one heavy CUTLASS kernel per
// translation unit, so they compile in parallel).
//
// Layout assumptions: A is row-major [rows, k] (K contiguous), B is [n, k] row-major per expert
// (column-major K×N for CUTLASS: the checkpoint layout needs no transposition), D is row-major
// [rows, d_columns]. k and n are multiples of 8 (16-byte TMA rows); validation guarantees it.
// The epilogue either stores the product through CUTLASS's TMA epilogue (GroupedOutput::kStore)
// or applies GEMM1's activation from registers (kActivation, grouped_activation_epilogue.cuh).
#pragma once

#include <cuda_runtime_api.h>

#include <mutex>
#include <string>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_launch.h"
#include "core/workspace_layout.h"
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"
#include "gemm/sm90/grouped_activation_epilogue.cuh"
#include "gemm/sm90/grouped_gemm_bf16.h"

namespace fusedmoe::sm90::grouped_detail {

using namespace cute;

// One thread per group: rows of the group (expert_rows.h), pointers into A/B/D.
template <class Arrays, class StrideA, class StrideB, class StrideD>
__global__ void fill_group_arrays(Arrays arrays, GroupedGemmProblem problem, StrideA stride_a,
                                  StrideB stride_b, StrideD stride_d) {
  using UnderlyingShape = std::remove_pointer_t<decltype(arrays.shapes)>;
  using ElementAB = std::remove_const_t<std::remove_pointer_t<std::remove_pointer_t<decltype(arrays.a)>>>;
  using ElementD = std::remove_pointer_t<std::remove_pointer_t<decltype(arrays.d)>>;
  const int group = blockIdx.x * blockDim.x + threadIdx.x;
  if (group >= problem.rows.num_experts) return;
  const int64_t first_row = expert_first_row(problem.rows, group);
  const int32_t rows = expert_row_count(problem.rows, group);
  arrays.shapes[group] = UnderlyingShape(rows, static_cast<int>(problem.n), static_cast<int>(problem.k));
  arrays.a[group] = static_cast<const ElementAB*>(problem.a) + first_row * problem.k;
  arrays.b[group] = static_cast<const ElementAB*>(problem.b) + static_cast<int64_t>(group) * problem.n * problem.k;
  arrays.d[group] = static_cast<ElementD*>(problem.d) + first_row * d_row_stride(problem);
  arrays.stride_a[group] = stride_a;
  arrays.stride_b[group] = stride_b;
  arrays.stride_d[group] = stride_d;
}

// A CUTLASS grouped GEMM for one tile configuration and epilogue.
template <class TileShape, class KernelSchedule, class EpilogueSchedule,
          GroupedOutput kOutput = GroupedOutput::kStore>
struct GroupedGemm {
using ProblemShape = cutlass::gemm::GroupProblemShape<Shape<int, int, int>>;
using ElementAB = cutlass::bfloat16_t;
using ElementD = cutlass::bfloat16_t;
using ElementAccumulator = float;
using LayoutA = cutlass::layout::RowMajor;
using LayoutB = cutlass::layout::ColumnMajor;
using LayoutD = cutlass::layout::RowMajor;
static constexpr int kAlignment = 8;  // 16 bytes of bf16
using ClusterShape = Shape<_1, _1, _1>;
using StoreEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
    cutlass::epilogue::collective::EpilogueTileAuto, ElementAccumulator, ElementAccumulator,
    void, LayoutD*, kAlignment, ElementD, LayoutD*, kAlignment, EpilogueSchedule,
    cutlass::epilogue::fusion::LinearCombination<ElementD, ElementAccumulator>>::CollectiveOp;
using CollectiveEpilogue =
    cute::conditional_t<kOutput == GroupedOutput::kStore, StoreEpilogue, ActivationEpilogue>;

using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementAB, LayoutA*, kAlignment,
    ElementAB, LayoutB*, kAlignment, ElementAccumulator, TileShape, ClusterShape,
    cutlass::gemm::collective::StageCountAutoCarveout<
        static_cast<int>(sizeof(typename CollectiveEpilogue::SharedStorage))>,
    KernelSchedule>::CollectiveOp;

using GemmKernel =
    cutlass::gemm::kernel::GemmUniversal<ProblemShape, CollectiveMainloop, CollectiveEpilogue>;
using Gemm = cutlass::gemm::device::GemmUniversalAdapter<GemmKernel>;

using StrideA = typename GemmKernel::InternalStrideA;
using StrideB = typename GemmKernel::InternalStrideB;
using StrideD = typename GemmKernel::InternalStrideD;
using UnderlyingShape = typename ProblemShape::UnderlyingProblemShape;

// Per-group argument arrays, carved from the workspace in this order.
struct GroupArrays {
  UnderlyingShape* shapes;
  const ElementAB** a;
  const ElementAB** b;
  ElementD** d;
  StrideA* stride_a;
  StrideB* stride_b;
  StrideD* stride_d;
};

// Offsets of the per-group arrays inside the workspace; sizing and carving both come from it.
struct GroupArrayOffsets {
  size_t shapes, a, b, d, stride_a, stride_b, stride_d, total;
};

static GroupArrayOffsets group_array_offsets(int32_t num_groups) {
  const size_t groups = static_cast<size_t>(num_groups);
  detail::WorkspaceLayout layout;
  GroupArrayOffsets offsets;
  offsets.shapes = layout.take(groups * sizeof(UnderlyingShape));
  offsets.a = layout.take(groups * sizeof(void*));
  offsets.b = layout.take(groups * sizeof(void*));
  offsets.d = layout.take(groups * sizeof(void*));
  offsets.stride_a = layout.take(groups * sizeof(StrideA));
  offsets.stride_b = layout.take(groups * sizeof(StrideB));
  offsets.stride_d = layout.take(groups * sizeof(StrideD));
  offsets.total = layout.total();
  return offsets;
}

static GroupArrays carve_group_arrays(void* base, int32_t num_groups) {
  const GroupArrayOffsets offsets = group_array_offsets(num_groups);
  char* bytes = static_cast<char*>(base);
  GroupArrays arrays;
  arrays.shapes = reinterpret_cast<UnderlyingShape*>(bytes + offsets.shapes);
  arrays.a = reinterpret_cast<const ElementAB**>(bytes + offsets.a);
  arrays.b = reinterpret_cast<const ElementAB**>(bytes + offsets.b);
  arrays.d = reinterpret_cast<ElementD**>(bytes + offsets.d);
  arrays.stride_a = reinterpret_cast<StrideA*>(bytes + offsets.stride_a);
  arrays.stride_b = reinterpret_cast<StrideB*>(bytes + offsets.stride_b);
  arrays.stride_d = reinterpret_cast<StrideD*>(bytes + offsets.stride_d);
  return arrays;
}

// Device facts CUTLASS needs per launch, read once per device (no per-call driver queries).
static cutlass::KernelHardwareInfo hardware_info() {
  static std::mutex mutex;
  static cutlass::KernelHardwareInfo cached[16];
  static bool known[16] = {};
  int device = 0;
  cuda::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(mutex);
  if (device < 0 || device >= 16) {
    return cutlass::KernelHardwareInfo::make_kernel_hardware_info<GemmKernel>(device);
  }
  if (!known[device]) {
    cached[device] = cutlass::KernelHardwareInfo::make_kernel_hardware_info<GemmKernel>(device);
    known[device] = true;
  }
  return cached[device];
}

static typename CollectiveEpilogue::Arguments epilogue_arguments(const GroupArrays& arrays,
                                                                  const GroupedGemmProblem& problem) {
  typename CollectiveEpilogue::Arguments arguments{};
  if constexpr (kOutput == GroupedOutput::kStore) {
    arguments.ptr_D = arrays.d;
    arguments.dD = arrays.stride_d;
    arguments.thread.alpha = 1.0f;
    arguments.thread.beta = 0.0f;
  } else {
    arguments.ptr_d = arrays.d;
    arguments.d_row_stride = d_row_stride(problem);
    arguments.form = activation_is_gated(problem.activation) ? ActivationForm::kGatedBlocked
                                                             : ActivationForm::kSingle;
    arguments.math = ActivationMath{problem.activation, problem.alpha, problem.beta, problem.clamp_limit};
  }
  return arguments;
}

static typename Gemm::Arguments make_arguments(const GroupArrays& arrays, const GroupedGemmProblem& problem,
                                               const cutlass::KernelHardwareInfo& hw_info) {
  return typename Gemm::Arguments{cutlass::gemm::GemmUniversalMode::kGrouped,
                                  {problem.rows.num_experts, arrays.shapes, nullptr},
                                  {arrays.a, arrays.stride_a, arrays.b, arrays.stride_b},
                                  epilogue_arguments(arrays, problem),
                                  hw_info};
}

// Workspace is sized at plan time, possibly on a machine without a GPU, so it is sized for the
// largest grid the kernel can get: CUTLASS's per-SM scratch grows with the SM count, and a Hopper
// part has at most kMaxMultiprocessors (H100 SXM: 132). run() checks the real count against it.
static constexpr int kMaxMultiprocessors = 256;

static size_t cutlass_workspace_bytes(int32_t num_groups) {
  GroupArrays placeholder{};
  GroupedGemmProblem problem;
  problem.rows.num_experts = num_groups;
  cutlass::KernelHardwareInfo bound;
  bound.device_id = 0;
  bound.sm_count = kMaxMultiprocessors;
  bound.max_active_clusters = kMaxMultiprocessors;
  return Gemm::get_workspace_size(make_arguments(placeholder, problem, bound));
}

static size_t required_workspace_bytes(int32_t num_groups) {
  return group_array_offsets(num_groups).total +
         detail::WorkspaceLayout::align_up(cutlass_workspace_bytes(num_groups));
}

static void run(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                       Stream stream) {
  const size_t needed = required_workspace_bytes(problem.rows.num_experts);
  if (workspace_bytes < needed) {
    detail::throw_invalid("workspace", "at least " + std::to_string(needed) + " bytes for the grouped GEMM",
                          std::to_string(workspace_bytes) + " bytes");
  }
  const GroupArrays arrays = carve_group_arrays(workspace, problem.rows.num_experts);
  void* cutlass_workspace =
      static_cast<char*>(workspace) + group_array_offsets(problem.rows.num_experts).total;

  const StrideA stride_a = cutlass::make_cute_packed_stride(StrideA{}, {1, static_cast<int>(problem.k), 1});
  const StrideB stride_b = cutlass::make_cute_packed_stride(StrideB{}, {static_cast<int>(problem.n), static_cast<int>(problem.k), 1});
  const StrideD stride_d =
      cutlass::make_cute_packed_stride(StrideD{}, {1, static_cast<int>(d_row_stride(problem)), 1});

  constexpr int kThreads = 128;
  const int blocks = (problem.rows.num_experts + kThreads - 1) / kThreads;
  fill_group_arrays<<<blocks, kThreads, 0, stream>>>(arrays, problem, stride_a, stride_b, stride_d);
  cuda::check_launch("fill_group_arrays");

  const cutlass::KernelHardwareInfo hw_info = hardware_info();
  if (hw_info.sm_count > kMaxMultiprocessors || hw_info.max_active_clusters > kMaxMultiprocessors) {
    detail::throw_unsupported("a GPU with " + std::to_string(hw_info.sm_count) +
                              " multiprocessors (the workspace is sized for at most " +
                              std::to_string(kMaxMultiprocessors) + ")");
  }
  Gemm gemm;
  const auto arguments = make_arguments(arrays, problem, hw_info);
  cutlass::Status status = gemm.can_implement(arguments);
  if (status != cutlass::Status::kSuccess) {
    detail::throw_unsupported(std::string("grouped bf16 GEMM cannot run n=") + std::to_string(problem.n) +
                              ", k=" + std::to_string(problem.k) + ": " + cutlassGetStatusString(status));
  }
  status = gemm.initialize(arguments, cutlass_workspace, stream);
  if (status != cutlass::Status::kSuccess) {
    throw Error(ErrorKind::kCuda, std::string("fusedmoe: grouped bf16 GEMM initialize failed: ") +
                                      cutlassGetStatusString(status));
  }
  status = gemm.run(stream);
  if (status != cutlass::Status::kSuccess) {
    throw Error(ErrorKind::kCuda, std::string("fusedmoe: grouped bf16 GEMM launch failed: ") +
                                      cutlassGetStatusString(status));
  }
  cuda::check_launch("grouped bf16 GEMM");
}

};

}  // namespace fusedmoe::sm90::grouped_detail
