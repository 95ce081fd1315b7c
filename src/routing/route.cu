// Placeholder until the routing kernels land: reports the stage as unsupported on CUDA.
#include "core/check.h"
#include "core/cuda_backend.h"

namespace fusedmoe::cuda {

void route(const MoePlan&, const RoutingInputs&, TensorView, TensorView, Workspace, Stream) {
  detail::throw_unsupported("CUDA routing kernels are not in this build yet");
}

void dispatch(const MoePlan&, TensorView, int32_t, const DispatchMaps&, TensorView, TensorView,
              TensorView, Workspace, Stream) {
  detail::throw_unsupported("CUDA dispatch kernels are not in this build yet");
}

void combine(const MoePlan&, const CombineInputs&, TensorView, Stream) {
  detail::throw_unsupported("CUDA combine kernel is not in this build yet");
}

size_t workspace_bytes(const MoePlan&) { return 0; }

Support supports(const MoeConfig&, const RoutingConfig&, EntryPoint entry) {
  return Support{false, std::string("no CUDA kernel for entry point '") + entry_point_name(entry) +
                            "' in this build yet"};
}

}  // namespace fusedmoe::cuda
