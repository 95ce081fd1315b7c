#include "common/layer_runner.h"

#include <cuda_runtime_api.h>

#include <chrono>

#include "common/device_memory.h"
#include "common/host_buffer.h"
#include "common/metrics.h"

namespace fusedmoe::tools {

namespace {

MoePlan plan_for(const RandomLayer& layer, Backend backend) {
  PlanOptions options;
  options.backend = backend;
  options.max_num_tokens = layer.num_tokens();
  return make_plan(layer.moe(), layer.spec().routing, options);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void check_cuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess) {
    throw Error(ErrorKind::kCuda, std::string("fusedmoe tool: ") + call + " failed: " +
                                      cudaGetErrorString(status));
  }
}

// A stream / event owned for the duration of one measurement.
class CudaStream {
 public:
  CudaStream() { check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate"); }
  ~CudaStream() { cudaStreamDestroy(stream_); }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEvent {
 public:
  CudaEvent() { check_cuda(cudaEventCreate(&event_), "cudaEventCreate"); }
  ~CudaEvent() { cudaEventDestroy(event_); }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace

BackendChoice choose_backend(DeviceRequest request, const MoeConfig& moe,
                             const RoutingConfig& routing) {
  BackendChoice choice;
  if (request == DeviceRequest::kCpu) {
    choice.why = "--device cpu";
    return choice;
  }
  const DeviceInfo device = cuda_device_info(0);
  std::string why;
  if (!device.available) {
    why = "no usable CUDA device: " + device.reason;
  } else {
    const Support support = query_support(moe, routing, Backend::kCudaSm90, EntryPoint::kFused);
    if (support.supported) {
      choice.backend = Backend::kCudaSm90;
      choice.why = device.name;
      return choice;
    }
    why = "CUDA backend cannot run this layer on " + device.name + ": " + support.reason;
  }
  choice.why = why;
  if (request == DeviceRequest::kCuda) choice.available = false;
  return choice;
}

RoutedIds route_on_cpu(const RandomLayer& layer) {
  const MoePlan plan = plan_for(layer, Backend::kCpuReference);
  const int64_t tokens = layer.num_tokens();
  const int64_t top_k = layer.moe().top_k;
  RoutedIds routed;
  routed.ids.resize(static_cast<size_t>(tokens * top_k));
  routed.weights.resize(static_cast<size_t>(tokens * top_k));
  HostBuffer workspace(plan.workspace_bytes);
  moe_route(plan, layer.routing_inputs(),
            make_view(routed.ids.data(), DType::kInt32, {tokens, top_k}),
            make_view(routed.weights.data(), DType::kFloat32, {tokens, top_k}),
            Workspace{workspace.data(), workspace.bytes()}, nullptr);
  return routed;
}

std::vector<int32_t> local_experts_hit(const MoeConfig& moe, const std::vector<int32_t>& ids) {
  std::vector<char> hit(static_cast<size_t>(moe.local_experts()), 0);
  for (int32_t id : ids) {
    const int32_t local = id - moe.local_expert_offset;
    if (id >= 0 && local >= 0 && local < moe.local_experts()) hit[static_cast<size_t>(local)] = 1;
  }
  std::vector<int32_t> experts;
  for (int32_t local = 0; local < moe.local_experts(); ++local) {
    if (hit[static_cast<size_t>(local)]) experts.push_back(moe.local_expert_offset + local);
  }
  return experts;
}

TimedOutput fused_on_cpu(const RandomLayer& layer) {
  const MoePlan plan = plan_for(layer, Backend::kCpuReference);
  HostTensor output = make_host_tensor(DType::kBFloat16, {layer.num_tokens(), layer.moe().hidden_size});
  HostBuffer workspace(plan.workspace_bytes);
  FusedInputs inputs;
  inputs.hidden_states = layer.hidden_states();
  inputs.routing = layer.routing_inputs();
  const auto start = std::chrono::steady_clock::now();
  moe_fused(plan, inputs, layer.weights(), output.view, Workspace{workspace.data(), workspace.bytes()},
            nullptr);
  TimedOutput result;
  result.seconds = seconds_since(start);
  result.output = to_doubles(output.view);
  return result;
}

TimedOutput routed_on_cpu(const RandomLayer& layer, const RoutedIds& routed) {
  const MoePlan plan = plan_for(layer, Backend::kCpuReference);
  const int64_t tokens = layer.num_tokens();
  const int64_t top_k = layer.moe().top_k;
  HostTensor output = make_host_tensor(DType::kBFloat16, {tokens, layer.moe().hidden_size});
  HostBuffer workspace(plan.workspace_bytes);
  RoutedIds copy = routed;  // the views are mutable; the caller's ids stay untouched
  RoutedInputs inputs;
  inputs.hidden_states = layer.hidden_states();
  inputs.topk_ids = make_view(copy.ids.data(), DType::kInt32, {tokens, top_k});
  inputs.topk_weights = make_view(copy.weights.data(), DType::kFloat32, {tokens, top_k});
  const auto start = std::chrono::steady_clock::now();
  moe_routed(plan, inputs, layer.weights(), output.view,
             Workspace{workspace.data(), workspace.bytes()}, nullptr);
  TimedOutput result;
  result.seconds = seconds_since(start);
  result.output = to_doubles(output.view);
  return result;
}

TimedOutput fused_on_cuda(const RandomLayer& layer, int device, int iterations) {
  const MoePlan plan = plan_for(layer, Backend::kCudaSm90);
  const MoeConfig& moe = layer.moe();
  DeviceTensors tensors(device);

  FusedInputs inputs;
  inputs.hidden_states = tensors.upload(layer.hidden_states());
  const RoutingInputs host_routing = layer.routing_inputs();
  inputs.routing.router_logits = tensors.upload(host_routing.router_logits);
  inputs.routing.correction_bias = tensors.upload(host_routing.correction_bias);
  inputs.routing.logits_bias = tensors.upload(host_routing.logits_bias);
  ExpertWeights weights = tensors.upload(layer.weights());
  const TensorView output =
      tensors.allocate(DType::kBFloat16, {layer.num_tokens(), moe.hidden_size});

  const CudaStream stream;
  const size_t scratch_bytes = prepare_scratch_bytes(moe, Backend::kCudaSm90);
  prepare_weights(moe, Backend::kCudaSm90, weights,
                  Workspace{tensors.scratch(scratch_bytes), scratch_bytes}, stream.get());
  const Workspace workspace{tensors.scratch(plan.workspace_bytes), plan.workspace_bytes};

  const CudaEvent start;
  const CudaEvent stop;
  moe_fused(plan, inputs, weights, output, workspace, stream.get());
  check_cuda(cudaEventRecord(start.get(), stream.get()), "cudaEventRecord");
  for (int i = 0; i < iterations; ++i) {
    moe_fused(plan, inputs, weights, output, workspace, stream.get());
  }
  check_cuda(cudaEventRecord(stop.get(), stream.get()), "cudaEventRecord");
  check_cuda(cudaEventSynchronize(stop.get()), "cudaEventSynchronize");
  float milliseconds = 0.0f;
  check_cuda(cudaEventElapsedTime(&milliseconds, start.get(), stop.get()), "cudaEventElapsedTime");

  HostTensor host_output = make_host_tensor(DType::kBFloat16, {layer.num_tokens(), moe.hidden_size});
  copy_to_host(output, host_output.buffer.data());
  TimedOutput result;
  result.iterations = iterations;
  result.seconds = milliseconds * 1e-3 / iterations;
  result.output = to_doubles(host_output.view);
  return result;
}

}  // namespace fusedmoe::tools
