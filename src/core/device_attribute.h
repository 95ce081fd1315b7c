// Attributes of the current CUDA device for host-side heuristics (grid shapes, tile choice), read
// once per device and cached, so that a launch path pays two atomic loads and a cudaGetDevice.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>

#include "core/cuda_launch.h"

namespace fusedmoe::cuda {

// What a failed attribute query does: throw fusedmoe::Error kCuda, or read as 0 (for inputs a
// heuristic can do without; the query's error is cleared so that no later launch check sees it).
enum class AttributeMissing { kThrow, kZero };

template <cudaDeviceAttr kAttribute>
int device_attribute(const char* what, AttributeMissing missing = AttributeMissing::kThrow) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices];  // 0: not read yet, else the value + 1
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device < kMaxDevices) {
    const int known = cached[device].load(std::memory_order_acquire);
    if (known > 0) return known - 1;
  }
  int value = 0;
  const cudaError_t status = cudaDeviceGetAttribute(&value, kAttribute, device);
  if (status != cudaSuccess) {
    if (missing == AttributeMissing::kThrow) check_cuda(status, what);
    cudaGetLastError();
    value = 0;
  }
  if (device < kMaxDevices) cached[device].store(value + 1, std::memory_order_release);
  return value;
}

}  // namespace fusedmoe::cuda
