#include "common/bench_layer.h"

#include <algorithm>

#include "common/cuda_check.h"
#include "common/device_random.h"
#include "common/host_buffer.h"

namespace fusedmoe::tools {
namespace {

// Stream ids of the layer's tensors (device_random.h); part of the seed: never renumber.
constexpr uint64_t kW13Stream = 1;
constexpr uint64_t kW2Stream = 2;
constexpr uint64_t kCorrectionBiasStream = 3;
constexpr uint64_t kLogitsBiasStream = 4;
constexpr uint64_t kW13BiasStream = 5;
constexpr uint64_t kW2BiasStream = 6;
// Input streams: kind · 2^48 + M · 2^8 + set (M < 2^40, set < 256).
constexpr uint64_t kHiddenStreamKind = 16;
constexpr uint64_t kLogitsStreamKind = 17;

uint64_t input_stream(uint64_t kind, int64_t tokens, int32_t set) {
  return (kind << 48) + (static_cast<uint64_t>(tokens) << 8) + static_cast<uint64_t>(set);
}

int64_t gemm1_rows(const MoeConfig& moe) {
  return activation_is_gated(moe.activation) ? 2LL * moe.intermediate_size : moe.intermediate_size;
}

int current_device() {
  int device = 0;
  check_cuda_call(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

}  // namespace

BenchLayer::BenchLayer(const LayerSpec& spec, uint64_t seed, Stream stream)
    : spec_(spec), seed_(seed), tensors_(current_device()) {
  const MoeConfig& moe = spec_.moe;
  if (moe.weight_format != WeightFormat::kBF16) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string("BenchLayer: spec.moe.weight_format: expected bf16, got ") +
                    weight_format_name(moe.weight_format));
  }
  const int64_t local = moe.local_experts();
  const int64_t hidden = moe.hidden_size;
  const int64_t inter = moe.intermediate_size;
  const int64_t n1 = gemm1_rows(moe);
  weights_.w13 = generate(DType::kBFloat16, {local, n1, hidden}, kW13Stream, kBenchWeightStddev, stream);
  weights_.w2 = generate(DType::kBFloat16, {local, hidden, inter}, kW2Stream, kBenchWeightStddev, stream);
  if (spec_.expert_biases) {
    weights_.w13_bias = generate(DType::kBFloat16, {local, n1}, kW13BiasStream, kBenchWeightStddev, stream);
    weights_.w2_bias = generate(DType::kBFloat16, {local, hidden}, kW2BiasStream, kBenchWeightStddev, stream);
  }
  if (spec_.correction_bias) {
    correction_bias_ = generate(DType::kFloat32, {moe.num_experts}, kCorrectionBiasStream,
                                kBenchWeightStddev, stream);
  }
  if (spec_.logits_bias) {
    logits_bias_ = generate(DType::kFloat32, {moe.num_experts}, kLogitsBiasStream,
                            kBenchWeightStddev, stream);
  }
  const size_t scratch_bytes = prepare_scratch_bytes(moe, Backend::kCudaSm90);
  DeviceBuffer scratch(scratch_bytes, current_device());
  prepare_weights(moe, Backend::kCudaSm90, weights_, Workspace{scratch.data(), scratch_bytes},
                  stream);
  check_cuda_call(cudaStreamSynchronize(stream), "cudaStreamSynchronize(prepare_weights)");
}

TensorView BenchLayer::generate(DType dtype, std::initializer_list<int64_t> shape,
                                uint64_t tensor_id, float stddev, Stream stream) {
  const TensorView view = tensors_.allocate(dtype, shape);
  fill_normal_on_device(view, "bench layer tensor", seed_, tensor_id, stddev, stream);
  return view;
}

size_t BenchLayer::device_bytes(const LayerSpec& spec) {
  const MoeConfig& moe = spec.moe;
  const size_t local = static_cast<size_t>(moe.local_experts());
  const size_t hidden = static_cast<size_t>(moe.hidden_size);
  const size_t n1 = static_cast<size_t>(gemm1_rows(moe));
  size_t bytes = local * (n1 + static_cast<size_t>(moe.intermediate_size)) * hidden * 2;
  if (spec.expert_biases) bytes += local * (n1 + hidden) * 2;
  return bytes + static_cast<size_t>(moe.num_experts) * 8;
}

size_t bench_inputs_bytes(const MoeConfig& moe, int64_t tokens) {
  const size_t m = static_cast<size_t>(tokens);
  return m * static_cast<size_t>(moe.hidden_size) * 2 * 2 +  // hidden states + output
         m * static_cast<size_t>(moe.num_experts) * 4 +      // logits
         m * static_cast<size_t>(moe.top_k) * 8;             // ids + weights
}

BenchInputs make_bench_inputs(DeviceTensors& tensors, const BenchLayer& layer, int64_t tokens,
                              int32_t set, Stream stream) {
  const MoeConfig& moe = layer.moe();
  BenchInputs inputs;
  inputs.hidden_states = tensors.allocate(DType::kBFloat16, {tokens, moe.hidden_size});
  inputs.router_logits = tensors.allocate(DType::kFloat32, {tokens, moe.num_experts});
  inputs.topk_ids = tensors.allocate(DType::kInt32, {tokens, moe.top_k});
  inputs.topk_weights = tensors.allocate(DType::kFloat32, {tokens, moe.top_k});
  inputs.output = tensors.allocate(DType::kBFloat16, {tokens, moe.hidden_size});
  fill_normal_on_device(inputs.hidden_states, "hidden_states", layer.seed(),
                        input_stream(kHiddenStreamKind, tokens, set), 1.0f, stream);
  fill_normal_on_device(inputs.router_logits, "router_logits", layer.seed(),
                        input_stream(kLogitsStreamKind, tokens, set), 1.0f, stream);
  return inputs;
}

int64_t count_experts_hit(const MoeConfig& moe, const TensorView& topk_ids) {
  HostTensor ids = make_host_tensor(DType::kInt32, {topk_ids.shape[0], topk_ids.shape[1]});
  copy_to_host(topk_ids, ids.buffer.data());
  std::vector<char> hit(static_cast<size_t>(moe.local_experts()), 0);
  const int32_t* values = ids.buffer.as<int32_t>();
  for (int64_t i = 0; i < topk_ids.numel(); ++i) {
    const int64_t local = static_cast<int64_t>(values[i]) - moe.local_expert_offset;
    if (values[i] >= 0 && local >= 0 && local < moe.local_experts()) hit[static_cast<size_t>(local)] = 1;
  }
  return std::count(hit.begin(), hit.end(), 1);
}

}  // namespace fusedmoe::tools
