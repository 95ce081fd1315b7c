// Owning host memory for test layers. Allocated as anonymous zero pages that the kernel commits
// only when first written, so a DeepSeek-V3-sized weight tensor (tens of GB) costs nothing until
// experts are generated into it: the CPU path fills only the experts its routing selects.
#pragma once

#include <cstddef>

#include "fusedmoe/types.h"

namespace fusedmoe::tools {

class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(size_t bytes);  // zero-filled (lazily); throws std::bad_alloc on failure
  ~HostBuffer();
  HostBuffer(HostBuffer&& other) noexcept;
  HostBuffer& operator=(HostBuffer&& other) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void release();
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A buffer sized for `shape` of `dtype` plus a contiguous CPU view of it.
struct HostTensor {
  HostBuffer buffer;
  TensorView view;
};
HostTensor make_host_tensor(DType dtype, std::initializer_list<int64_t> shape);

}  // namespace fusedmoe::tools
