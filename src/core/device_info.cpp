#include <cuda_runtime_api.h>

#include "fusedmoe/moe.h"

namespace fusedmoe {

DeviceInfo cuda_device_info(int index) {
  DeviceInfo info;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" state so later queries start clean
    info.reason = std::string("no CUDA device visible (cudaGetDeviceCount: ") +
                  cudaGetErrorString(status) + ")";
    return info;
  }
  if (index < 0 || index >= count) {
    info.reason = "CUDA device " + std::to_string(index) + " not present (" +
                  std::to_string(count) + " visible)";
    return info;
  }
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, index) != cudaSuccess) {
    cudaGetLastError();
    info.reason = "cudaGetDeviceProperties failed for device " + std::to_string(index);
    return info;
  }
  info.name = props.name;
  info.compute_capability = props.major * 10 + props.minor;
  info.multiprocessor_count = props.multiProcessorCount;
  info.global_memory_bytes = props.totalGlobalMem;
  if (info.compute_capability != 90) {
    info.reason = "fusedmoe kernels are built for sm_90a (H100/H200); device " +
                  std::to_string(index) + " is " + info.name + " (sm_" +
                  std::to_string(info.compute_capability) + ")";
    return info;
  }
  info.available = true;
  return info;
}

const char* version() {
#ifdef FUSEDMOE_VERSION_STRING
  return FUSEDMOE_VERSION_STRING;
#else
  return "unknown";
#endif
}

}  // namespace fusedmoe
