// Checks the tensors of one entry-point call: every tensor on the one device the plan's backend
// runs on, then dtype, shape, strides and alignment. Only the views' metadata is read; tensor
// memory is never touched (it may live on the GPU, and ids are data for the kernels).
#pragma once

#include <initializer_list>
#include <string>

#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

// Memory layout a tensor argument must have.
enum class Memory {
  kStridedRows,  // last dimension contiguous, outer strides free (logits, ids, per-row scales)
  kVectorRows,   // as kStridedRows; on CUDA base and row strides 16-byte aligned (hidden, output)
  kContiguous,   // fully row-major (maps, per-expert vectors, weight scales, biases)
  kContiguousAligned,  // fully row-major; on CUDA base 16-byte aligned (w13, w2: TMA loads)
};

// A small set of accepted dtypes, built at the call site (often depending on the config).
class DTypes {
 public:
  DTypes(std::initializer_list<DType> dtypes);
  DTypes& add(DType dtype);
  // Appended to the "expected" text, e.g. "the dtype of 'inputs.hidden_states'".
  DTypes& because(std::string reason);
  bool contains(DType dtype) const;
  std::string describe() const;

 private:
  static constexpr int kCapacity = 8;
  DType dtypes_[kCapacity] = {};
  int count_ = 0;
  std::string reason_;
};

class CallChecker {
 public:
  // `anchor` is the call's first required tensor: its device becomes the call's device and must
  // be the plan's backend device (else the error names `backend_argument`).
  CallChecker(const MoePlan& plan, const TensorView& anchor, const char* anchor_name,
              const char* backend_argument = "plan.options.backend");

  const Device& device() const { return device_; }
  bool on_cuda() const { return device_.type == DeviceType::kCUDA; }

  // A required tensor: defined, non-null, on the call's device, of an accepted dtype and shape
  // (-1 matches any extent), with the given memory layout.
  void require(const TensorView& view, const char* name, const DTypes& dtypes,
               std::initializer_list<int64_t> shape, Memory memory);
  // The same checks for an optional tensor; returns whether it was given.
  bool optional(const TensorView& view, const char* name, const DTypes& dtypes,
                std::initializer_list<int64_t> shape, Memory memory);
  // Presence, pointer, device and dtype only; the caller checks the shape (alternatives).
  void require_placed(const TensorView& view, const char* name, const DTypes& dtypes);
  // require_placed for an optional tensor; returns whether it was given.
  bool optional_placed(const TensorView& view, const char* name, const DTypes& dtypes);
  // Strides and alignment of a tensor whose shape the caller has checked.
  void check_memory(const TensorView& view, const char* name, Memory memory) const;
  // An argument this configuration does not use must be absent: ignoring it silently would hide
  // a caller bug (a bias that is never added, a weight applied twice).
  static void forbid(const TensorView& view, const char* name, const std::string& reason);

  // Token count M of the call: within plan.options.max_num_tokens (when set) and small enough
  // that token * top_k + slot fits the int32 slot ids.
  void check_tokens(int64_t num_tokens, const char* name) const;
  // Permuted / per-expert rows the expert stage reads: bounded like the workspace (limits.h).
  void check_expert_rows(int64_t rows, const char* name) const;
  // CUDA only: workspace.bytes covers the plan's workspace and data is usable.
  void check_workspace(const Workspace& workspace) const;

 private:
  const MoePlan& plan_;
  Device device_;
};

}  // namespace fusedmoe::detail
