#include "core/cuda_entry.h"

#include <cuda_runtime_api.h>

#include <atomic>
#include <string>

#include "core/check.h"
#include "core/cuda_backend.h"

namespace fusedmoe::detail {

namespace {

constexpr int kMaxCachedDevices = 64;

// cudaGetDeviceProperties is too slow for every call: remember which devices were found to be
// sm_90 (0 = not checked yet, 1 = usable). A device found unusable is re-checked, on the error
// path only, to report the reason.
std::atomic<int> g_device_usable[kMaxCachedDevices];

void check_device_usable(int index) {
  const bool cacheable = index < kMaxCachedDevices;
  if (cacheable && g_device_usable[index].load(std::memory_order_relaxed) == 1) return;
  const DeviceInfo info = cuda_device_info(index);
  if (!info.available) throw_unsupported(info.reason);
  if (cacheable) g_device_usable[index].store(1, std::memory_order_relaxed);
}

void check_current_device(const Device& device) {
  int current = -1;
  const cudaError_t status = cudaGetDevice(&current);
  if (status != cudaSuccess) {
    cudaGetLastError();  // do not leave a sticky error for the caller's next CUDA call
    throw Error(ErrorKind::kCuda,
                std::string("fusedmoe: cudaGetDevice failed: ") + cudaGetErrorString(status));
  }
  if (current != device.index) {
    throw_invalid("device of the tensors",
                  "the current CUDA device cuda:" + std::to_string(current) +
                      " (kernels launch there; select the tensors' device with cudaSetDevice)",
                  device_string(device));
  }
}

}  // namespace

void check_cuda_entry(const MoeConfig& moe, const RoutingConfig& routing, EntryPoint entry,
                      const Device& device) {
  const Support support = cuda::supports(moe, routing, entry);
  if (!support.supported) {
    throw_unsupported(std::string("entry point '") + entry_point_name(entry) +
                      "' on backend cuda-sm90: " + support.reason);
  }
  check_current_device(device);
  check_device_usable(device.index);
}

}  // namespace fusedmoe::detail
