// Opting a kernel into more dynamic shared memory than the default 48 KB: the attribute is set
// once per kernel and device (again only when a call asks for more), not by a driver call per
// launch, so that a launch path pays a cudaGetDevice and one atomic load.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>

#include "core/cuda_launch.h"

namespace fusedmoe::cuda {

// The slow path of ensure_dynamic_shared_memory: sets `kernel`'s attribute to `bytes` on the
// current device unless `granted` (that device's record; nullptr: none kept) already holds at
// least `bytes`, then records it. Serialized across threads, so that a call for fewer bytes cannot
// set the attribute after one for more and leave it below what `granted` says.
void raise_dynamic_shared_memory(const void* kernel, int bytes, const char* kernel_name,
                                 std::atomic<int>* granted);

// Makes sure kKernel accepts at least `bytes` of dynamic shared memory on the current device;
// throws fusedmoe::Error kCuda naming `kernel_name` when the driver refuses. Thread safe.
// The kernel is a template argument, so each kernel (each template instance of one, too) has its
// own static record per device: no shared table to size or search on the launch path.
template <auto kKernel>
void ensure_dynamic_shared_memory(int bytes, const char* kernel_name) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> granted[kMaxDevices];  // bytes the attribute allows; 0: not set yet
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  std::atomic<int>* record = device < kMaxDevices ? &granted[device] : nullptr;
  if (record != nullptr && record->load(std::memory_order_acquire) >= bytes) return;
  raise_dynamic_shared_memory(reinterpret_cast<const void*>(kKernel), bytes, kernel_name, record);
}

}  // namespace fusedmoe::cuda
