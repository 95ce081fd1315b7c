// Device copies of host tensors for the CUDA path of the tool and the benchmarks. Failures throw
// fusedmoe::Error (ErrorKind::kCuda) naming the call.
#pragma once

#include <cstddef>
#include <vector>

#include "fusedmoe/types.h"
#include "fusedmoe/weights.h"

namespace fusedmoe::tools {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t bytes, int device);  // uninitialized device memory
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void release();
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Device tensors that live as long as this set; each copy keeps the host view's shape.
class DeviceTensors {
 public:
  explicit DeviceTensors(int device) : device_(device) {}
  // Copies a contiguous host tensor; an absent view stays absent.
  TensorView upload(const TensorView& host);
  // Uninitialized device tensor of the given shape.
  TensorView allocate(DType dtype, std::initializer_list<int64_t> shape);
  ExpertWeights upload(const ExpertWeights& host);
  void* scratch(size_t bytes);

 private:
  int device_;
  std::vector<DeviceBuffer> buffers_;
};

void copy_to_host(const TensorView& device_view, void* host);

}  // namespace fusedmoe::tools
