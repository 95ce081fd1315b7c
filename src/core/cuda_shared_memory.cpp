#include "core/cuda_shared_memory.h"

#include <mutex>
#include <string>

namespace fusedmoe::cuda {

void raise_dynamic_shared_memory(const void* kernel, int bytes, const char* kernel_name,
                                 std::atomic<int>* granted) {
  static std::mutex mutex;
  const std::lock_guard<std::mutex> lock(mutex);
  // Another thread may have raised it while this one waited.
  if (granted != nullptr && granted->load(std::memory_order_relaxed) >= bytes) return;
  const std::string what = std::string("cudaFuncSetAttribute(") + kernel_name + " shared memory)";
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
             what.c_str());
  if (granted != nullptr) granted->store(bytes, std::memory_order_release);
}

}  // namespace fusedmoe::cuda
