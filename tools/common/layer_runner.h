// Runs a RandomLayer through the public entry points (fusedmoe::make_plan + moe_route / moe_fused
// / moe_routed) on the CPU reference or the CUDA backend, and picks the backend for --device.
#pragma once

#include <string>
#include <vector>

#include "common/random_layer.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

enum class DeviceRequest { kAuto, kCpu, kCuda };

struct BackendChoice {
  Backend backend = Backend::kCpuReference;
  bool available = true;  // false: --device cuda asked for what cannot run (see why)
  std::string why;        // why the CPU reference was picked / why CUDA cannot run
};

// auto: CUDA when cuda_device_info(0) is available and query_support(kCudaSm90, kFused) says so,
// else the CPU reference with the reason. cuda: the same test, unavailable with the reason.
BackendChoice choose_backend(DeviceRequest request, const MoeConfig& moe,
                             const RoutingConfig& routing);

struct RoutedIds {
  std::vector<int32_t> ids;     // [M, top_k]
  std::vector<float> weights;   // [M, top_k], without routed_scaling_factor
};

// moe_route on the CPU reference.
RoutedIds route_on_cpu(const RandomLayer& layer);

// Distinct local experts (global ids, ascending) that `ids` selects.
std::vector<int32_t> local_experts_hit(const MoeConfig& moe, const std::vector<int32_t>& ids);

struct TimedOutput {
  std::vector<double> output;  // [M, H]
  double seconds = 0.0;        // one call (CUDA: mean over the timed iterations)
  int iterations = 1;
};

TimedOutput fused_on_cpu(const RandomLayer& layer);
// moe_routed fed `routed` (same plan, so routed_scaling_factor is applied once in combine).
TimedOutput routed_on_cpu(const RandomLayer& layer, const RoutedIds& routed);
// Uploads the layer (all experts must be generated), prepares the weights, runs moe_fused once
// to warm up and `iterations` times under CUDA events.
TimedOutput fused_on_cuda(const RandomLayer& layer, int device, int iterations);

}  // namespace fusedmoe::tools
