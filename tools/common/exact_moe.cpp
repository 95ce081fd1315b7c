#include "common/exact_moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "common/dequantize.h"
#include "core/host_numerics.h"

namespace fusedmoe::tools {

namespace {

double read_float(const TensorView& view, int64_t offset) {
  switch (view.dtype) {
    case DType::kFloat32: return static_cast<const float*>(view.data)[offset];
    case DType::kBFloat16:
      return numerics::bf16_bits_to_float(static_cast<const uint16_t*>(view.data)[offset]);
    case DType::kFloat16:
      return numerics::f16_bits_to_float(static_cast<const uint16_t*>(view.data)[offset]);
    default: break;
  }
  throw std::invalid_argument(std::string("exact evaluation: unexpected dtype ") + dtype_name(view.dtype));
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The logit contract (NUMERICS.md): NaN becomes -inf, +inf the largest finite float, so no
// logit can poison a softmax or rank above a real one.
double sanitize_logit(float value) {
  if (std::isnan(value)) return -std::numeric_limits<double>::infinity();
  if (value == std::numeric_limits<float>::infinity()) return std::numeric_limits<float>::max();
  return value;
}

bool is_minus_inf(double value) { return value == -std::numeric_limits<double>::infinity(); }

// NaN ranks below everything, including -inf; equal scores go to the lower id.
bool ranks_before(double score_a, int32_t id_a, double score_b, int32_t id_b) {
  const bool nan_a = std::isnan(score_a);
  const bool nan_b = std::isnan(score_b);
  if (nan_a != nan_b) return nan_b;
  if (!nan_a && score_a != score_b) return score_a > score_b;
  return id_a < id_b;
}

// Indices of the k best scores among `allowed`, best first (-inf ties go to the lower id too).
std::vector<int32_t> top_k(const std::vector<double>& scores, const std::vector<char>& allowed,
                           int32_t k) {
  std::vector<int32_t> candidates;
  for (int32_t i = 0; i < static_cast<int32_t>(scores.size()); ++i) {
    if (allowed[static_cast<size_t>(i)]) candidates.push_back(i);
  }
  const size_t keep = std::min(candidates.size(), static_cast<size_t>(k));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep),
                    candidates.end(), [&](int32_t a, int32_t b) {
                      return ranks_before(scores[static_cast<size_t>(a)], a,
                                          scores[static_cast<size_t>(b)], b);
                    });
  candidates.resize(keep);
  return candidates;
}

// Keeps the topk_group groups whose two best biased scores sum highest (DeepSeek-V3).
std::vector<char> grouped_mask(const std::vector<double>& biased, int32_t n_group,
                               int32_t topk_group) {
  const int32_t experts = static_cast<int32_t>(biased.size());
  std::vector<char> allowed(static_cast<size_t>(experts), 1);
  if (n_group <= 1) return allowed;
  const int32_t group_size = experts / n_group;
  std::vector<double> group_scores(static_cast<size_t>(n_group));
  for (int32_t g = 0; g < n_group; ++g) {
    std::vector<double> members(biased.begin() + g * group_size,
                                biased.begin() + (g + 1) * group_size);
    std::vector<char> all(members.size(), 1);
    double sum = 0.0;
    for (int32_t index : top_k(members, all, std::min(2, group_size))) {
      sum += members[static_cast<size_t>(index)];
    }
    group_scores[static_cast<size_t>(g)] = sum;
  }
  std::vector<char> all_groups(static_cast<size_t>(n_group), 1);
  std::fill(allowed.begin(), allowed.end(), 0);
  for (int32_t g : top_k(group_scores, all_groups, topk_group)) {
    std::fill(allowed.begin() + g * group_size, allowed.begin() + (g + 1) * group_size, 1);
  }
  return allowed;
}

void renormalize(std::vector<double>& weights, double epsilon) {
  double sum = 0.0;
  for (double w : weights) sum += w;
  for (double& w : weights) w /= (sum + epsilon);
}

void route_token(const MoeConfig& moe, const RoutingConfig& routing, const std::vector<double>& logits,
                 const std::vector<double>& correction, std::vector<int32_t>& ids,
                 std::vector<double>& weights) {
  const size_t experts = logits.size();
  const std::vector<char> everyone(experts, 1);
  weights.clear();
  switch (routing.method) {
    case RoutingMethod::kSoftmaxTopK: {
      double max_logit = -std::numeric_limits<double>::infinity();
      for (double l : logits) {
        if (!std::isnan(l)) max_logit = std::max(max_logit, l);
      }
      std::vector<double> probs(experts);
      double total = 0.0;
      for (size_t e = 0; e < experts; ++e) {
        probs[e] = std::isnan(logits[e]) ? 0.0 : std::exp(logits[e] - max_logit);
        total += probs[e];
      }
      for (double& p : probs) p = total > 0.0 ? p / total : 0.0;
      ids = top_k(logits, everyone, moe.top_k);
      for (int32_t id : ids) weights.push_back(probs[static_cast<size_t>(id)]);
      if (routing.renormalize && total > 0.0) renormalize(weights, 0.0);
      return;
    }
    case RoutingMethod::kTopKSoftmax: {
      ids = top_k(logits, everyone, moe.top_k);
      const double best = logits[static_cast<size_t>(ids.front())];
      for (int32_t id : ids) {
        const double logit = logits[static_cast<size_t>(id)];
        weights.push_back(is_minus_inf(best) || is_minus_inf(logit) ? 0.0 : std::exp(logit - best));
      }
      if (!is_minus_inf(best)) renormalize(weights, 0.0);
      return;
    }
    case RoutingMethod::kSigmoidGroupedTopK:
    case RoutingMethod::kSigmoidTopK: {
      std::vector<double> scores(experts);
      std::vector<double> biased(experts);
      for (size_t e = 0; e < experts; ++e) {
        scores[e] = sigmoid(logits[e]);
        biased[e] = is_minus_inf(logits[e]) ? logits[e]
                                            : scores[e] + (correction.empty() ? 0.0 : correction[e]);
      }
      const bool grouped = routing.method == RoutingMethod::kSigmoidGroupedTopK;
      const std::vector<char> allowed =
          grouped ? grouped_mask(biased, routing.n_group, routing.topk_group) : everyone;
      ids = top_k(grouped ? biased : scores, allowed, moe.top_k);
      for (int32_t id : ids) weights.push_back(scores[static_cast<size_t>(id)]);
      if (routing.renormalize) renormalize(weights, 1e-20);
      return;
    }
    case RoutingMethod::kLlama4Top1Sigmoid: {
      ids = top_k(logits, everyone, 1);
      weights.push_back(sigmoid(logits[static_cast<size_t>(ids.front())]));
      return;
    }
  }
}

// Dot product in double with four partial sums (breaks the add dependency chain).
double dot(const float* row, const double* x, int64_t count) {
  double partial[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t k = 0;
  for (; k + 4 <= count; k += 4) {
    partial[0] += static_cast<double>(row[k]) * x[k];
    partial[1] += static_cast<double>(row[k + 1]) * x[k + 1];
    partial[2] += static_cast<double>(row[k + 2]) * x[k + 2];
    partial[3] += static_cast<double>(row[k + 3]) * x[k + 3];
  }
  for (; k < count; ++k) partial[0] += static_cast<double>(row[k]) * x[k];
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

// Index of the gate and up rows of activation output i in w13's row order.
void gate_up_rows(GateUpLayout layout, int64_t i, int64_t inter, int64_t& gate, int64_t& up) {
  switch (layout) {
    case GateUpLayout::kGateThenUp: gate = i; up = inter + i; return;
    case GateUpLayout::kUpThenGate: up = i; gate = inter + i; return;
    case GateUpLayout::kInterleaved: gate = 2 * i; up = 2 * i + 1; return;
  }
}

}  // namespace

double activate_exact(const MoeConfig& moe, double gate_or_x, double up) {
  const ActivationParams& params = moe.activation_params;
  const double limit = params.clamp_limit;
  const bool clamp = std::isfinite(limit);
  double gate = gate_or_x;
  if (activation_is_gated(moe.activation) && clamp) {
    gate = std::min(gate, limit);
    up = std::max(-limit, std::min(up, limit));
  }
  const auto gelu_tanh = [](double x) {
    const double inner = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + std::tanh(inner));
  };
  switch (moe.activation) {
    case Activation::kSwiGLU: return gate * sigmoid(gate) * up;
    case Activation::kSwiGLUOAI: return (up + params.beta) * gate * sigmoid(params.alpha * gate);
    case Activation::kGeGLUTanh: return gelu_tanh(gate) * up;
    case Activation::kReLU2: return gate > 0.0 ? gate * gate : 0.0;
    case Activation::kSiLU: return gate * sigmoid(gate);
    case Activation::kGeLUTanh: return gelu_tanh(gate);
  }
  return 0.0;
}

ExactRouting route_exact(const MoeConfig& moe, const RoutingConfig& routing,
                         const RoutingInputs& inputs) {
  const TensorView& logits_view = inputs.router_logits;
  ExactRouting result;
  result.num_tokens = static_cast<int32_t>(logits_view.shape[0]);
  result.top_k = moe.top_k;
  const int64_t experts = moe.num_experts;

  std::vector<double> correction;
  if (inputs.correction_bias.defined()) {
    for (int64_t e = 0; e < experts; ++e) correction.push_back(read_float(inputs.correction_bias, e));
  }
  std::vector<double> logits(static_cast<size_t>(experts));
  std::vector<int32_t> ids;
  std::vector<double> weights;
  for (int64_t t = 0; t < result.num_tokens; ++t) {
    for (int64_t e = 0; e < experts; ++e) {
      float value = static_cast<float>(
          read_float(logits_view, t * logits_view.strides[0] + e * logits_view.strides[1]));
      if (inputs.logits_bias.defined()) value += static_cast<float>(read_float(inputs.logits_bias, e));
      logits[static_cast<size_t>(e)] = sanitize_logit(value);
    }
    route_token(moe, routing, logits, correction, ids, weights);
    result.ids.insert(result.ids.end(), ids.begin(), ids.end());
    result.weights.insert(result.weights.end(), weights.begin(), weights.end());
  }
  return result;
}

ExactOutput moe_exact(const MoeConfig& moe, const RoutingConfig& routing, TensorView hidden_states,
                      const ExactRouting& routed, const ExpertWeights& weights) {
  const int64_t tokens = routed.num_tokens;
  const int64_t hidden = moe.hidden_size;
  const int64_t inter = moe.intermediate_size;
  const bool gated = activation_is_gated(moe.activation);
  const int64_t n1 = gated ? 2 * inter : inter;
  const bool weight_on_input = moe.router_weight_apply == RouterWeightApply::kOnInput;

  ExactOutput result;
  result.output.assign(static_cast<size_t>(tokens * hidden), 0.0);

  // (token, slot) pairs per local expert, so each expert's weights are decoded once.
  std::vector<std::vector<int64_t>> rows_of_expert(static_cast<size_t>(moe.local_experts()));
  for (int64_t pair = 0; pair < tokens * routed.top_k; ++pair) {
    const int32_t local = routed.ids[static_cast<size_t>(pair)] - moe.local_expert_offset;
    if (routed.ids[static_cast<size_t>(pair)] < 0 || local < 0 || local >= moe.local_experts()) continue;
    rows_of_expert[static_cast<size_t>(local)].push_back(pair);
    ++result.local_rows;
  }

  std::vector<float> w13;
  std::vector<float> w2;
  std::vector<double> x(static_cast<size_t>(hidden));
  std::vector<double> h(static_cast<size_t>(n1));
  std::vector<double> act(static_cast<size_t>(inter));
  for (int32_t local = 0; local < moe.local_experts(); ++local) {
    const std::vector<int64_t>& pairs = rows_of_expert[static_cast<size_t>(local)];
    if (pairs.empty()) continue;
    dequantize_expert(moe, weights, ExpertMatrix::kW13, local, w13);
    dequantize_expert(moe, weights, ExpertMatrix::kW2, local, w2);
    for (int64_t pair : pairs) {
      const int64_t token = pair / routed.top_k;
      const double router_weight = routed.weights[static_cast<size_t>(pair)];
      const double input_scale = weight_on_input ? router_weight : 1.0;
      for (int64_t k = 0; k < hidden; ++k) {
        x[k] = input_scale * read_float(hidden_states, token * hidden_states.strides[0] + k);
      }
      for (int64_t n = 0; n < n1; ++n) {
        h[n] = dot(&w13[static_cast<size_t>(n * hidden)], x.data(), hidden);
        if (weights.w13_bias.defined()) h[n] += read_float(weights.w13_bias, local * n1 + n);
      }
      for (int64_t i = 0; i < inter; ++i) {
        if (gated) {
          int64_t gate_row = 0;
          int64_t up_row = 0;
          gate_up_rows(moe.gate_up_layout, i, inter, gate_row, up_row);
          act[i] = activate_exact(moe, h[gate_row], h[up_row]);
        } else {
          act[i] = activate_exact(moe, h[i], 0.0);
        }
        result.intermediate_amax = std::max(result.intermediate_amax, std::fabs(act[i]));
      }
      const double output_scale = weight_on_input ? 1.0 : router_weight;
      double* out = &result.output[static_cast<size_t>(token * hidden)];
      for (int64_t j = 0; j < hidden; ++j) {
        double y = dot(&w2[static_cast<size_t>(j * inter)], act.data(), inter);
        if (weights.w2_bias.defined()) y += read_float(weights.w2_bias, local * hidden + j);
        out[j] += output_scale * y;
      }
    }
  }
  for (double& value : result.output) value *= routing.routed_scaling_factor;
  return result;
}

}  // namespace fusedmoe::tools
