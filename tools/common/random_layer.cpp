#include "common/random_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/random_stream.h"
#include "common/tool_error.h"
#include "core/host_numerics.h"
#include "core/parallel_for.h"
#include "reference/quantize.h"

namespace fusedmoe::tools {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Spread of the bias-like tensors: small next to the unit-scale values they shift, like trained
// models' biases.
constexpr float kCorrectionBiasStd = 0.1f;
constexpr float kLogitsBiasStd = 0.5f;
constexpr float kExpertBiasStd = 0.1f;

void fill_normal_bf16(uint16_t* dst, int64_t count, NormalStream& stream, float stddev) {
  for (int64_t i = 0; i < count; ++i) dst[i] = numerics::float_to_bf16_bits(stream.normal() * stddev);
}

void fill_normal_f32(float* dst, int64_t count, NormalStream& stream, float stddev) {
  for (int64_t i = 0; i < count; ++i) dst[i] = stream.normal() * stddev;
}

}  // namespace

RandomLayer::RandomLayer(const LayerSpec& spec, int32_t num_tokens, uint64_t seed,
                         LogitsDType logits_dtype)
    : spec_(spec), num_tokens_(num_tokens), seed_(seed), logits_dtype_(logits_dtype) {
  if (num_tokens < 1) {
    throw UsageError("--tokens " + std::to_string(num_tokens) + ": expected a positive integer");
  }
  generated_.assign(static_cast<size_t>(spec_.moe.local_experts()), 0);
  generate_inputs();
  allocate_weights();
}

void RandomLayer::generate_inputs() {
  const MoeConfig& moe = spec_.moe;
  const int64_t tokens = num_tokens_;
  const int64_t hidden = moe.hidden_size;
  const int64_t experts = moe.num_experts;

  hidden_ = make_host_tensor(DType::kBFloat16, {tokens, hidden});
  NormalStream hidden_stream(seed_, RandomTensor::kHiddenStates, -1);
  fill_normal_bf16(hidden_.buffer.as<uint16_t>(), tokens * hidden, hidden_stream, 1.0f);

  std::vector<float> popularity(static_cast<size_t>(experts));
  NormalStream popularity_stream(seed_, RandomTensor::kExpertPopularity, -1);
  fill_normal_f32(popularity.data(), experts, popularity_stream, 1.0f);

  const DType logits_type =
      logits_dtype_ == LogitsDType::kBFloat16 ? DType::kBFloat16 : DType::kFloat32;
  logits_ = make_host_tensor(logits_type, {tokens, experts});
  NormalStream logits_stream(seed_, RandomTensor::kRouterLogits, -1);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t e = 0; e < experts; ++e) {
      const float value = logits_stream.normal() + popularity[static_cast<size_t>(e)];
      const int64_t index = t * experts + e;
      if (logits_type == DType::kBFloat16) {
        logits_.buffer.as<uint16_t>()[index] = numerics::float_to_bf16_bits(value);
      } else {
        logits_.buffer.as<float>()[index] = value;
      }
    }
  }

  if (spec_.correction_bias) {
    correction_bias_ = make_host_tensor(DType::kFloat32, {experts});
    NormalStream stream(seed_, RandomTensor::kCorrectionBias, -1);
    fill_normal_f32(correction_bias_.buffer.as<float>(), experts, stream, kCorrectionBiasStd);
  }
  if (spec_.logits_bias) {
    logits_bias_ = make_host_tensor(DType::kFloat32, {experts});
    NormalStream stream(seed_, RandomTensor::kLogitsBias, -1);
    fill_normal_f32(logits_bias_.buffer.as<float>(), experts, stream, kLogitsBiasStd);
  }
}

void RandomLayer::allocate_weights() {
  const MoeConfig& moe = spec_.moe;
  const int64_t local = moe.local_experts();
  const int64_t hidden = moe.hidden_size;
  const int64_t inter = moe.intermediate_size;
  const int64_t n1 = activation_is_gated(moe.activation) ? 2 * inter : inter;

  switch (moe.weight_format) {
    case WeightFormat::kBF16:
      w13_ = make_host_tensor(DType::kBFloat16, {local, n1, hidden});
      w2_ = make_host_tensor(DType::kBFloat16, {local, hidden, inter});
      break;
    case WeightFormat::kFP8PerTensor:
      w13_ = make_host_tensor(DType::kFloat8E4M3, {local, n1, hidden});
      w2_ = make_host_tensor(DType::kFloat8E4M3, {local, hidden, inter});
      w13_scale_ = make_host_tensor(DType::kFloat32, {local});
      w2_scale_ = make_host_tensor(DType::kFloat32, {local});
      a1_scale_ = make_host_tensor(DType::kFloat32, {1});
      a2_scale_ = make_host_tensor(DType::kFloat32, {1});
      break;
    case WeightFormat::kFP8Block128:
      w13_ = make_host_tensor(DType::kFloat8E4M3, {local, n1, hidden});
      w2_ = make_host_tensor(DType::kFloat8E4M3, {local, hidden, inter});
      w13_scale_ = make_host_tensor(DType::kFloat32, {local, ceil_div(n1, 128), ceil_div(hidden, 128)});
      w2_scale_ = make_host_tensor(DType::kFloat32, {local, ceil_div(hidden, 128), ceil_div(inter, 128)});
      break;
    case WeightFormat::kMXFP4:
      w13_ = make_host_tensor(DType::kFloat4E2M1x2, {local, n1, hidden / 2});
      w2_ = make_host_tensor(DType::kFloat4E2M1x2, {local, hidden, inter / 2});
      w13_scale_ = make_host_tensor(DType::kUE8M0, {local, n1, hidden / 32});
      w2_scale_ = make_host_tensor(DType::kUE8M0, {local, hidden, inter / 32});
      break;
    case WeightFormat::kNVFP4:
      w13_ = make_host_tensor(DType::kFloat4E2M1x2, {local, n1, hidden / 2});
      w2_ = make_host_tensor(DType::kFloat4E2M1x2, {local, hidden, inter / 2});
      w13_scale_ = make_host_tensor(DType::kFloat8E4M3, {local, n1, hidden / 16});
      w2_scale_ = make_host_tensor(DType::kFloat8E4M3, {local, hidden, inter / 16});
      w13_global_scale_ = make_host_tensor(DType::kFloat32, {local});
      w2_global_scale_ = make_host_tensor(DType::kFloat32, {local});
      break;
  }
  if (spec_.expert_biases) {
    w13_bias_ = make_host_tensor(DType::kBFloat16, {local, n1});
    w2_bias_ = make_host_tensor(DType::kBFloat16, {local, hidden});
  }

  if (moe.weight_format == WeightFormat::kFP8PerTensor) {
    float amax = 0.0f;
    const uint16_t* x = hidden_.buffer.as<uint16_t>();
    for (int64_t i = 0; i < hidden_.view.numel(); ++i) {
      amax = std::max(amax, std::fabs(numerics::bf16_bits_to_float(x[i])));
    }
    a1_scale_.buffer.as<float>()[0] = amax > 0.0f ? amax / numerics::kFp8E4M3Max : 1.0f;
    a2_scale_.buffer.as<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  }

  weights_.layout = WeightLayout::kCheckpoint;
  weights_.w13 = w13_.view;
  weights_.w2 = w2_.view;
  weights_.w13_scale = w13_scale_.view;
  weights_.w2_scale = w2_scale_.view;
  weights_.w13_global_scale = w13_global_scale_.view;
  weights_.w2_global_scale = w2_global_scale_.view;
  weights_.w13_bias = w13_bias_.view;
  weights_.w2_bias = w2_bias_.view;
  weights_.a1_scale = a1_scale_.view;
  weights_.a2_scale = a2_scale_.view;
}

void RandomLayer::quantize_matrix(const std::vector<float>& master, int64_t rows, int64_t cols,
                                  int32_t local_expert, bool is_w13) {
  HostTensor& values = is_w13 ? w13_ : w2_;
  HostTensor& scales = is_w13 ? w13_scale_ : w2_scale_;
  HostTensor& global_scale = is_w13 ? w13_global_scale_ : w2_global_scale_;
  const int64_t expert = local_expert;
  const float* src = master.data();
  const int64_t count = rows * cols;

  switch (spec_.moe.weight_format) {
    case WeightFormat::kBF16: {
      uint16_t* dst = values.buffer.as<uint16_t>() + expert * count;
      for (int64_t i = 0; i < count; ++i) dst[i] = numerics::float_to_bf16_bits(src[i]);
      break;
    }
    case WeightFormat::kFP8PerTensor: {
      uint8_t* dst = values.buffer.as<uint8_t>() + expert * count;
      scales.buffer.as<float>()[expert] = reference::quantize_fp8_per_tensor(src, count, dst);
      break;
    }
    case WeightFormat::kFP8Block128: {
      uint8_t* dst = values.buffer.as<uint8_t>() + expert * count;
      const int64_t scale_count = ceil_div(rows, 128) * ceil_div(cols, 128);
      float* scale_dst = scales.buffer.as<float>() + expert * scale_count;
      reference::quantize_fp8_block128(src, rows, cols, dst, scale_dst, ScaleFormat::kFloat32);
      break;
    }
    case WeightFormat::kMXFP4: {
      uint8_t* dst = values.buffer.as<uint8_t>() + expert * count / 2;
      uint8_t* scale_dst = scales.buffer.as<uint8_t>() + expert * count / 32;
      reference::quantize_mxfp4(src, rows, cols, dst, scale_dst);
      break;
    }
    case WeightFormat::kNVFP4: {
      uint8_t* dst = values.buffer.as<uint8_t>() + expert * count / 2;
      uint8_t* scale_dst = scales.buffer.as<uint8_t>() + expert * count / 16;
      global_scale.buffer.as<float>()[expert] =
          reference::quantize_nvfp4(src, rows, cols, dst, scale_dst);
      break;
    }
  }
}

int32_t RandomLayer::local_index(int32_t global_expert) const {
  const MoeConfig& moe = spec_.moe;
  const int32_t local = global_expert - moe.local_expert_offset;
  if (local < 0 || local >= moe.local_experts()) {
    throw UsageError("expert " + std::to_string(global_expert) + " is not on this rank (local range [" +
                     std::to_string(moe.local_expert_offset) + ", " +
                     std::to_string(moe.local_expert_offset + moe.local_experts()) + "))");
  }
  return local;
}

void RandomLayer::fill_expert(int32_t global_expert, std::vector<float>& master) {
  const MoeConfig& moe = spec_.moe;
  const int32_t local = local_index(global_expert);
  const int64_t hidden = moe.hidden_size;
  const int64_t inter = moe.intermediate_size;
  const int64_t n1 = activation_is_gated(moe.activation) ? 2 * inter : inter;

  master.resize(static_cast<size_t>(std::max(n1 * hidden, hidden * inter)));
  NormalStream w13_stream(seed_, RandomTensor::kW13, global_expert);
  fill_normal_f32(master.data(), n1 * hidden, w13_stream, 1.0f / std::sqrt(static_cast<float>(hidden)));
  quantize_matrix(master, n1, hidden, local, true);

  NormalStream w2_stream(seed_, RandomTensor::kW2, global_expert);
  fill_normal_f32(master.data(), hidden * inter, w2_stream, 1.0f / std::sqrt(static_cast<float>(inter)));
  quantize_matrix(master, hidden, inter, local, false);

  if (spec_.expert_biases) {
    NormalStream w13_bias_stream(seed_, RandomTensor::kW13Bias, global_expert);
    fill_normal_bf16(w13_bias_.buffer.as<uint16_t>() + local * n1, n1, w13_bias_stream, kExpertBiasStd);
    NormalStream w2_bias_stream(seed_, RandomTensor::kW2Bias, global_expert);
    fill_normal_bf16(w2_bias_.buffer.as<uint16_t>() + local * hidden, hidden, w2_bias_stream,
                     kExpertBiasStd);
  }
  generated_[static_cast<size_t>(local)] = 1;
}

void RandomLayer::generate_expert(int32_t global_expert) {
  generate_experts({global_expert});
}

void RandomLayer::generate_experts(const std::vector<int32_t>& global_experts) {
  std::vector<int32_t> pending;
  for (int32_t expert : global_experts) {
    const int32_t local = local_index(expert);
    if (generated_[static_cast<size_t>(local)]) continue;
    if (std::find(pending.begin(), pending.end(), expert) == pending.end()) pending.push_back(expert);
  }
  // Experts are independent (own random streams, disjoint slices of every tensor); each worker
  // keeps one scratch buffer for the master weights.
  const int64_t count = static_cast<int64_t>(pending.size());
  std::vector<std::vector<float>> master(static_cast<size_t>(detail::parallel_workers(count, 1)));
  detail::parallel_for(count, 1, [&](int64_t worker, int64_t i) {
    fill_expert(pending[static_cast<size_t>(i)], master[static_cast<size_t>(worker)]);
  });
}

void RandomLayer::generate_all_experts() {
  const MoeConfig& moe = spec_.moe;
  std::vector<int32_t> experts;
  for (int32_t local = 0; local < moe.local_experts(); ++local) {
    experts.push_back(moe.local_expert_offset + local);
  }
  generate_experts(experts);
}

bool RandomLayer::expert_generated(int32_t global_expert) const {
  const int32_t local = global_expert - spec_.moe.local_expert_offset;
  if (local < 0 || local >= spec_.moe.local_experts()) return false;
  return generated_[static_cast<size_t>(local)] != 0;
}

int32_t RandomLayer::generated_expert_count() const {
  return static_cast<int32_t>(std::count(generated_.begin(), generated_.end(), 1));
}

void RandomLayer::set_intermediate_scale(float a2) {
  if (a2_scale_.view.defined()) a2_scale_.buffer.as<float>()[0] = a2;
}

float RandomLayer::input_scale() const {
  return a1_scale_.view.defined() ? a1_scale_.buffer.as<float>()[0] : 0.0f;
}

RoutingInputs RandomLayer::routing_inputs() const {
  RoutingInputs inputs;
  inputs.router_logits = logits_.view;
  inputs.correction_bias = correction_bias_.view;
  inputs.logits_bias = logits_bias_.view;
  return inputs;
}

double RandomLayer::weight_bytes_per_expert() const {
  const HostTensor* tensors[] = {&w13_, &w2_, &w13_scale_, &w2_scale_, &w13_global_scale_,
                                 &w2_global_scale_, &w13_bias_, &w2_bias_};
  double bytes = 0.0;
  for (const HostTensor* tensor : tensors) bytes += static_cast<double>(tensor->buffer.bytes());
  return bytes / static_cast<double>(spec_.moe.local_experts());
}

}  // namespace fusedmoe::tools
