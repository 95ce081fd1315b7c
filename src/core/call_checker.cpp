#include "core/call_checker.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "core/check.h"
#include "core/cuda_backend.h"
#include "core/limits.h"

namespace fusedmoe::detail {

namespace {

constexpr size_t kVectorAlignment = 16;  // 128-bit loads / stores, TMA base addresses

DeviceType backend_device_type(Backend backend) {
  return backend == Backend::kCudaSm90 ? DeviceType::kCUDA : DeviceType::kCPU;
}

Backend backend_for(DeviceType type) {
  return type == DeviceType::kCUDA ? Backend::kCudaSm90 : Backend::kCpuReference;
}

void check_base_alignment(const TensorView& view, const char* name, size_t bytes) {
  const auto address = reinterpret_cast<uintptr_t>(view.data);
  if (address % bytes != 0) {
    throw_invalid(name, "data pointer aligned to " + std::to_string(bytes) + " bytes",
                  "address with offset " + std::to_string(address % bytes));
  }
}

}  // namespace

DTypes::DTypes(std::initializer_list<DType> dtypes) {
  for (DType dtype : dtypes) add(dtype);
}

DTypes& DTypes::add(DType dtype) {
  if (!contains(dtype) && count_ < kCapacity) dtypes_[count_++] = dtype;
  return *this;
}

DTypes& DTypes::because(std::string reason) {
  reason_ = std::move(reason);
  return *this;
}

bool DTypes::contains(DType dtype) const {
  for (int i = 0; i < count_; ++i) {
    if (dtypes_[i] == dtype) return true;
  }
  return false;
}

std::string DTypes::describe() const {
  std::string text = "dtype ";
  for (int i = 0; i < count_; ++i) {
    if (i > 0) text += (i + 1 == count_) ? " or " : ", ";
    text += dtype_name(dtypes_[i]);
  }
  if (!reason_.empty()) text += " (" + reason_ + ")";
  return text;
}

CallChecker::CallChecker(const MoePlan& plan, const TensorView& anchor, const char* anchor_name,
                         const char* backend_argument)
    : plan_(plan), device_(anchor.device) {
  check_ndim(anchor, anchor_name);
  check_defined(anchor, anchor_name);
  if (device_.type != DeviceType::kCPU && device_.type != DeviceType::kCUDA) {
    throw_invalid(anchor_name, "a tensor on the CPU or a CUDA device",
                  "device type " + std::to_string(static_cast<int>(device_.type)));
  }
  if (device_.type == DeviceType::kCUDA && device_.index < 0) {
    throw_invalid(anchor_name, "a CUDA device index >= 0", device_string(device_));
  }
  if (device_.type != backend_device_type(plan.options.backend)) {
    throw_invalid(backend_argument,
                  std::string(backend_name(backend_for(device_.type))) + " for tensors on " +
                      device_string(device_) + " ('" + anchor_name +
                      "' is there; all tensors of a call live on its backend's device)",
                  backend_name(plan.options.backend));
  }
}

void CallChecker::require_placed(const TensorView& view, const char* name, const DTypes& dtypes) {
  check_ndim(view, name);
  check_defined(view, name);
  check_device(view, name, device_);
  if (!dtypes.contains(view.dtype)) throw_invalid(name, dtypes.describe(), dtype_name(view.dtype));
}

bool CallChecker::optional_placed(const TensorView& view, const char* name, const DTypes& dtypes) {
  check_ndim(view, name);
  if (!view.defined()) return false;
  require_placed(view, name, dtypes);
  return true;
}

void CallChecker::require(const TensorView& view, const char* name, const DTypes& dtypes,
                          std::initializer_list<int64_t> shape, Memory memory) {
  require_placed(view, name, dtypes);
  check_shape(view, name, shape);
  check_memory(view, name, memory);
}

bool CallChecker::optional(const TensorView& view, const char* name, const DTypes& dtypes,
                           std::initializer_list<int64_t> shape, Memory memory) {
  check_ndim(view, name);
  if (!view.defined()) return false;
  require(view, name, dtypes, shape, memory);
  return true;
}

void CallChecker::check_memory(const TensorView& view, const char* name, Memory memory) const {
  switch (memory) {
    case Memory::kStridedRows: check_inner_contiguous(view, name); break;
    case Memory::kVectorRows:
      check_inner_contiguous(view, name);
      if (on_cuda()) check_alignment(view, name, kVectorAlignment);
      break;
    case Memory::kContiguous: check_contiguous(view, name); break;
    case Memory::kContiguousAligned:
      check_contiguous(view, name);
      if (on_cuda()) check_base_alignment(view, name, kVectorAlignment);
      break;
  }
  // Every element access assumes natural alignment (a misaligned int32 faults on the GPU).
  check_base_alignment(view, name, dtype_size(view.dtype));
}

void CallChecker::forbid(const TensorView& view, const char* name, const std::string& reason) {
  check_ndim(view, name);
  if (view.defined()) throw_invalid(name, "no tensor (" + reason + ")", view.describe());
}

void CallChecker::check_tokens(int64_t num_tokens, const char* name) const {
  const int32_t max_tokens = plan_.options.max_num_tokens;
  if (max_tokens > 0 && num_tokens > max_tokens) {
    throw_invalid(name,
                  "at most plan.options.max_num_tokens = " + std::to_string(max_tokens) +
                      " tokens (rows); make the plan for the largest batch",
                  std::to_string(num_tokens) + " tokens");
  }
  if (num_tokens * plan_.moe.top_k > std::numeric_limits<int32_t>::max()) {
    throw_invalid(
        name, "tokens * top_k <= 2^31 - 1 (int32 slot ids)",
        std::to_string(num_tokens) + " tokens * top_k " + std::to_string(plan_.moe.top_k));
  }
}

void CallChecker::check_expert_rows(int64_t rows, const char* name) const {
  if (plan_.options.max_num_tokens > 0 && rows > max_expert_rows(plan_)) {
    throw_invalid(name,
                  "at most " + std::to_string(max_expert_rows(plan_)) +
                      " rows (plan.options.max_num_tokens * top_k + local experts * " +
                      std::to_string(kMaxRowAlignment - 1) +
                      ", the most a dispatch produces; the workspace is sized for it)",
                  std::to_string(rows) + " rows");
  }
  if (rows > std::numeric_limits<int32_t>::max()) {
    throw_invalid(name, "at most 2^31 - 1 rows (int32 row indices)", std::to_string(rows));
  }
}

void CallChecker::check_workspace(const Workspace& workspace) const {
  if (!on_cuda()) return;  // the CPU reference allocates what it needs
  const size_t required = cuda::workspace_bytes(plan_);
  if (plan_.workspace_bytes < required) {
    throw_invalid("plan.workspace_bytes",
                  "at least " + std::to_string(required) + " (what make_plan sizes for this plan)",
                  std::to_string(plan_.workspace_bytes));
  }
  if (workspace.bytes < plan_.workspace_bytes) {
    throw_invalid("workspace.bytes",
                  "at least plan.workspace_bytes = " + std::to_string(plan_.workspace_bytes),
                  std::to_string(workspace.bytes));
  }
  if (workspace.bytes > 0 && workspace.data == nullptr) {
    throw_invalid("workspace.data",
                  "a device pointer to " + std::to_string(workspace.bytes) + " bytes", "nullptr");
  }
  if (reinterpret_cast<uintptr_t>(workspace.data) % kVectorAlignment != 0) {
    throw_invalid(
        "workspace.data", "a pointer aligned to " + std::to_string(kVectorAlignment) + " bytes",
        "address with offset " +
            std::to_string(reinterpret_cast<uintptr_t>(workspace.data) % kVectorAlignment));
  }
}

}  // namespace fusedmoe::detail
