// Random expert layers for the reference tests: float master weights, their checkpoint tensors in
// any WeightFormat (made with the reference quantizers), and an exact double evaluation of the
// master weights to measure quantization error against.
#pragma once

#include <cmath>
#include <vector>

#include "fusedmoe/moe.h"
#include "reference/activation.h"
#include "reference/quantize.h"
#include "reference_test_util.h"

namespace fusedmoe::reference::testing {

struct TestLayer {
  MoeConfig moe;
  std::vector<float> master_w13;  // [E_l, N1, H]
  std::vector<float> master_w2;   // [E_l, H, I]
  HostTensor w13, w2, w13_scale, w2_scale, w13_global, w2_global, w13_bias, w2_bias, a1_scale, a2_scale;

  ExpertWeights weights() const {
    ExpertWeights w;
    w.w13 = w13;
    w.w2 = w2;
    w.w13_scale = w13_scale;
    w.w2_scale = w2_scale;
    w.w13_global_scale = w13_global;
    w.w2_global_scale = w2_global;
    w.w13_bias = w13_bias;
    w.w2_bias = w2_bias;
    w.a1_scale = a1_scale;
    w.a2_scale = a2_scale;
    return w;
  }

  int64_t n1() const { return activation_is_gated(moe.activation) ? 2 * moe.intermediate_size : moe.intermediate_size; }
};

// Encodes `count` experts of [rows, cols] float matrices in `format`.
inline void encode_matrices(WeightFormat format, const std::vector<float>& master, int64_t experts,
                            int64_t rows, int64_t cols, HostTensor& q, HostTensor& scale, HostTensor& global) {
  const int64_t size = rows * cols;
  switch (format) {
    case WeightFormat::kBF16:
      q = HostTensor(DType::kBFloat16, {experts, rows, cols});
      for (int64_t i = 0; i < experts * size; ++i) q.set_flat(i, master[i]);
      return;
    case WeightFormat::kFP8PerTensor:
      q = HostTensor(DType::kFloat8E4M3, {experts, rows, cols});
      scale = HostTensor(DType::kFloat32, {experts});
      for (int64_t e = 0; e < experts; ++e) {
        scale.set_flat(e, quantize_fp8_per_tensor(master.data() + e * size, size, q.bytes() + e * size));
      }
      return;
    case WeightFormat::kFP8Block128: {
      const int64_t br = (rows + 127) / 128, bc = (cols + 127) / 128;
      q = HostTensor(DType::kFloat8E4M3, {experts, rows, cols});
      scale = HostTensor(DType::kFloat32, {experts, br, bc});
      for (int64_t e = 0; e < experts; ++e) {
        quantize_fp8_block128(master.data() + e * size, rows, cols, q.bytes() + e * size,
                              scale.bytes() + e * br * bc * 4, ScaleFormat::kFloat32);
      }
      return;
    }
    case WeightFormat::kMXFP4:
      q = HostTensor(DType::kFloat4E2M1x2, {experts, rows, cols / 2});
      scale = HostTensor(DType::kUE8M0, {experts, rows, cols / 32});
      for (int64_t e = 0; e < experts; ++e) {
        quantize_mxfp4(master.data() + e * size, rows, cols, q.bytes() + e * size / 2, scale.bytes() + e * size / 32);
      }
      return;
    case WeightFormat::kNVFP4:
      q = HostTensor(DType::kFloat4E2M1x2, {experts, rows, cols / 2});
      scale = HostTensor(DType::kFloat8E4M3, {experts, rows, cols / 16});
      global = HostTensor(DType::kFloat32, {experts});
      for (int64_t e = 0; e < experts; ++e) {
        global.set_flat(e, quantize_nvfp4(master.data() + e * size, rows, cols, q.bytes() + e * size / 2,
                                          scale.bytes() + e * size / 16));
      }
      return;
  }
}

// Weights ~ N(0, magnitude^2 / K) so activations stay O(magnitude-scaled 1).
inline TestLayer make_layer(const MoeConfig& moe, uint64_t seed, double magnitude = 1.0, bool biases = false) {
  TestLayer layer;
  layer.moe = moe;
  const int64_t experts = moe.local_experts();
  const int64_t hidden = moe.hidden_size, inter = moe.intermediate_size, n1 = layer.n1();
  Random random(seed);
  layer.master_w13.resize(experts * n1 * hidden);
  layer.master_w2.resize(experts * hidden * inter);
  for (float& w : layer.master_w13) w = static_cast<float>(magnitude * random.normal() / std::sqrt(hidden));
  for (float& w : layer.master_w2) w = static_cast<float>(magnitude * random.normal() / std::sqrt(inter));
  encode_matrices(moe.weight_format, layer.master_w13, experts, n1, hidden, layer.w13, layer.w13_scale, layer.w13_global);
  encode_matrices(moe.weight_format, layer.master_w2, experts, hidden, inter, layer.w2, layer.w2_scale, layer.w2_global);
  if (biases) {
    layer.w13_bias = HostTensor::of(DType::kFloat32, {experts, n1}, random.normals(experts * n1, 0.1 * magnitude));
    layer.w2_bias = HostTensor::of(DType::kBFloat16, {experts, hidden}, random.normals(experts * hidden, 0.1 * magnitude));
  }
  if (moe.activation_quant == ActivationQuant::kFP8PerTensor) {
    // Calibrated for N(0, 1) inputs: a little above the observed amax. The intermediate of a gated
    // expert scales as magnitude^2 (both GEMM1 halves scale with the weights); at small
    // magnitudes silu(g) ~ g / 2.
    const double intermediate_scale = magnitude == 1.0 ? 1.0 : 0.5 * magnitude * magnitude;
    layer.a1_scale = HostTensor::of(DType::kFloat32, {1}, {5.0 / 448.0});
    layer.a2_scale = HostTensor(DType::kFloat32, {experts});
    for (int64_t e = 0; e < experts; ++e) layer.a2_scale.set_flat(e, (8.0 + e) / 448.0 * intermediate_scale);
  }
  return layer;
}

// The expert's output for one input row from the master weights: no rounding anywhere.
inline std::vector<double> exact_expert(const TestLayer& layer, int64_t expert, const std::vector<double>& x) {
  const MoeConfig& moe = layer.moe;
  const int64_t hidden = moe.hidden_size, inter = moe.intermediate_size, n1 = layer.n1();
  std::vector<double> h(n1, 0.0);
  for (int64_t n = 0; n < n1; ++n) {
    for (int64_t k = 0; k < hidden; ++k) h[n] += layer.master_w13[(expert * n1 + n) * hidden + k] * x[k];
    if (layer.w13_bias.view().defined()) h[n] += layer.w13_bias.at({expert, n});
  }
  std::vector<double> a(inter);
  for (int64_t j = 0; j < inter; ++j) {
    if (!activation_is_gated(moe.activation)) {
      a[j] = plain_activation(moe.activation, h[j]);
      continue;
    }
    const bool interleaved = moe.gate_up_layout == GateUpLayout::kInterleaved;
    const bool up_first = moe.gate_up_layout == GateUpLayout::kUpThenGate;
    const double gate = interleaved ? h[2 * j] : up_first ? h[inter + j] : h[j];
    const double up = interleaved ? h[2 * j + 1] : up_first ? h[j] : h[inter + j];
    a[j] = gated_activation(moe.activation, moe.activation_params, gate, up);
  }
  std::vector<double> y(hidden, 0.0);
  for (int64_t n = 0; n < hidden; ++n) {
    for (int64_t j = 0; j < inter; ++j) y[n] += layer.master_w2[(expert * hidden + n) * inter + j] * a[j];
    if (layer.w2_bias.view().defined()) y[n] += layer.w2_bias.at({expert, n});
  }
  return y;
}

}  // namespace fusedmoe::reference::testing
