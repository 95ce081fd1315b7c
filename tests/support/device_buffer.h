// Device memory for the GPU tests: an owning buffer with upload / download / poison, and views of
// it as fusedmoe tensors. Every CUDA failure throws std::runtime_error naming the call, so a test
// fails loudly instead of comparing garbage.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fusedmoe/types.h"

namespace fusedmoe::testing {

inline void cuda_or_throw(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
  }
}

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes_ > 0) cuda_or_throw(cudaMalloc(&data_, bytes_), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      if (data_ != nullptr) cudaFree(data_);
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T>
  static DeviceBuffer from(const std::vector<T>& host) {
    DeviceBuffer buffer(host.size() * sizeof(T));
    buffer.upload(host.data(), buffer.bytes());
    return buffer;
  }

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

  void upload(const void* host, size_t bytes) {
    if (bytes > bytes_) throw std::runtime_error("DeviceBuffer::upload: too many bytes");
    if (bytes > 0) cuda_or_throw(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice), "upload");
  }
  template <typename T>
  void upload(const std::vector<T>& host) {
    upload(host.data(), host.size() * sizeof(T));
  }
  template <typename T>
  std::vector<T> download(size_t count) const {
    std::vector<T> host(count);
    if (count * sizeof(T) > bytes_) throw std::runtime_error("DeviceBuffer::download: too many");
    if (count > 0) {
      cuda_or_throw(cudaMemcpy(host.data(), data_, count * sizeof(T), cudaMemcpyDeviceToHost),
                    "download");
    }
    return host;
  }
  template <typename T>
  std::vector<T> download_all() const {
    return download<T>(bytes_ / sizeof(T));
  }
  // Fills every byte with `pattern` (0xff: NaN floats and -1 ints; 0xab: garbage) so that a test
  // sees any element a kernel forgot to write.
  void poison(uint8_t pattern = 0xab) {
    if (bytes_ > 0) cuda_or_throw(cudaMemset(data_, pattern, bytes_), "cudaMemset");
  }

  TensorView view(DType dtype, std::initializer_list<int64_t> shape) const {
    return make_view(data_, dtype, shape, cuda_device(0));
  }
  TensorView strided_view(DType dtype, std::initializer_list<int64_t> shape,
                          std::initializer_list<int64_t> strides) const {
    return make_strided_view(data_, dtype, shape, strides, cuda_device(0));
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace fusedmoe::testing
