// query_support: whether an entry point can run a configuration on a backend, here and now,
// with the same reason the entry point would throw.
#include "core/check.h"
#include "core/cuda_backend.h"
#include "core/validate.h"

namespace fusedmoe {

Support query_support(const MoeConfig& moe, const RoutingConfig& routing, Backend backend,
                      EntryPoint entry) {
  try {
    detail::check_enum(backend, "backend", "Backend", Backend::kCudaSm90);
    detail::check_enum(entry, "entry", "EntryPoint", EntryPoint::kPrepare);
    PlanOptions options;
    options.backend = backend;
    options.max_num_tokens = 1;
    detail::validate_config(moe, routing, options);
  } catch (const Error& error) {
    return Support{false, error.what()};
  }
  // The reference is the oracle: it runs every valid configuration.
  if (backend == Backend::kCpuReference) return Support{true, ""};
  const DeviceInfo device = cuda_device_info(0);
  if (!device.available) return Support{false, device.reason};
  Support support = cuda::supports(moe, routing, entry);
  if (!support.supported && support.reason.empty()) {
    support.reason = std::string("no cuda-sm90 kernel for entry point '") +
                     entry_point_name(entry) + "' and this configuration";
  }
  if (support.supported) support.reason.clear();
  return support;
}

}  // namespace fusedmoe
