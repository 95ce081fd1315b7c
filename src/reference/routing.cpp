// Routing reference: per token, router logits -> top-k distinct expert ids and fp32 weights, for
// every RoutingMethod. docs/NUMERICS.md ("Routing") states each step; this file is that text.
//
// Selection is made on exact inputs wherever the method allows it: softmax and sigmoid are
// strictly increasing, so "top-k of softmax(l)" and "top-k of sigmoid(l)" rank by the logit itself.
// That keeps the selection independent of how exp() is rounded, so a GPU kernel that ranks by the
// same fp32 logits picks bitwise the same ids. Only kSigmoidGroupedTopK ranks a computed value
// (sigmoid + correction bias), where near-ties may legitimately differ by rounding.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "reference/reference.h"
#include "reference/tensor_access.h"

namespace fusedmoe::reference {
namespace {

constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();
// Added to the sum of selected sigmoid weights before renormalizing (DeepSeek-V3 convention), so
// an all-zero selection yields zeros instead of 0/0.
constexpr double kSigmoidRenormEpsilon = 1e-20;

// NaN ranks lowest (-inf); +inf becomes the largest finite float so softmax stays finite (two +inf
// logits share the mass instead of producing inf - inf = NaN).
double sanitize(double value) {
  if (std::isnan(value)) return kNegativeInfinity;
  if (value > static_cast<double>(FLT_MAX)) return FLT_MAX;
  return value;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Indices of the k largest keys among the eligible ones, best first. Ties go to the lower index;
// when fewer than k entries are eligible the rest are filled from the ineligible ones in the same
// order, so the ids are always k distinct values in [0, keys.size()). Keys are never NaN.
std::vector<int32_t> top_k(const std::vector<double>& keys, int32_t k,
                           const std::vector<char>& eligible) {
  std::vector<int32_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  const auto better = [&](int32_t a, int32_t b) {
    if (eligible[a] != eligible[b]) return eligible[a] > eligible[b];
    if (keys[a] != keys[b]) return keys[a] > keys[b];
    return a < b;
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  order.resize(k);
  return order;
}

std::vector<int32_t> top_k(const std::vector<double>& keys, int32_t k) {
  return top_k(keys, k, std::vector<char>(keys.size(), 1));
}

// Logits of token t: read exactly, plus the optional logits bias (an fp32 addition, as a kernel
// adds it), then sanitized.
std::vector<double> token_logits(const RoutingInputs& inputs, int64_t token, int32_t num_experts) {
  std::vector<double> logits(num_experts);
  for (int32_t e = 0; e < num_experts; ++e) {
    float value = static_cast<float>(load_at(inputs.router_logits, {token, e}));
    if (inputs.logits_bias.defined()) {
      value = value + static_cast<float>(load_at(inputs.logits_bias, {e}));
    }
    logits[e] = sanitize(value);
  }
  return logits;
}

struct Selection {
  std::vector<int32_t> ids;
  std::vector<double> weights;
};

Selection softmax_then_top_k(const std::vector<double>& logits, int32_t k, bool renormalize) {
  Selection result{top_k(logits, k), std::vector<double>(k, 0.0)};
  const double row_max = logits[result.ids[0]];
  if (row_max == kNegativeInfinity) return result;  // every logit NaN or -inf: no mass anywhere
  double total = 0.0;
  for (double logit : logits) total += std::exp(logit - row_max);
  double selected_total = 0.0;
  for (int32_t s = 0; s < k; ++s) {
    result.weights[s] = std::exp(logits[result.ids[s]] - row_max) / total;
    selected_total += result.weights[s];
  }
  if (renormalize) {
    for (double& weight : result.weights) weight /= selected_total;  // > 0: the max has p >= 1/E
  }
  return result;
}

Selection top_k_then_softmax(const std::vector<double>& logits, int32_t k) {
  Selection result{top_k(logits, k), std::vector<double>(k, 0.0)};
  const double selected_max = logits[result.ids[0]];
  if (selected_max == kNegativeInfinity) return result;
  double total = 0.0;
  for (int32_t s = 0; s < k; ++s) {
    result.weights[s] = std::exp(logits[result.ids[s]] - selected_max);
    total += result.weights[s];
  }
  for (double& weight : result.weights) weight /= total;  // total >= 1 (the max contributes 1)
  return result;
}

void renormalize_sigmoid_weights(std::vector<double>& weights) {
  double total = 0.0;
  for (double weight : weights) total += weight;
  for (double& weight : weights) weight /= (total + kSigmoidRenormEpsilon);
}

// Top-k by logit (= top-k by sigmoid), weights sigmoid(logit).
Selection sigmoid_top_k(const std::vector<double>& logits, int32_t k, bool renormalize) {
  Selection result{top_k(logits, k), std::vector<double>(k, 0.0)};
  for (int32_t s = 0; s < k; ++s) result.weights[s] = sigmoid(logits[result.ids[s]]);
  if (renormalize) renormalize_sigmoid_weights(result.weights);
  return result;
}

// Which experts survive group limiting: the topk_group groups whose best two keys (one when a group
// holds a single expert) sum highest, ties to the lower group.
std::vector<char> kept_by_group(const std::vector<double>& keys, int32_t n_group, int32_t topk_group) {
  const int32_t group_size = static_cast<int32_t>(keys.size()) / n_group;
  std::vector<double> group_scores(n_group);
  for (int32_t g = 0; g < n_group; ++g) {
    std::vector<double> members(keys.begin() + g * group_size, keys.begin() + (g + 1) * group_size);
    const std::vector<int32_t> best = top_k(members, std::min(group_size, 2));
    double score = 0.0;
    for (int32_t index : best) score += members[index];  // -inf + finite = -inf, never NaN
    group_scores[g] = score;
  }
  std::vector<char> kept(keys.size(), 0);
  for (int32_t g : top_k(group_scores, topk_group)) {
    std::fill(kept.begin() + g * group_size, kept.begin() + (g + 1) * group_size, 1);
  }
  return kept;
}

// DeepSeek-V3 "noaux_tc": choose with sigmoid + correction bias inside the kept groups, weigh with
// the unbiased sigmoid. An expert whose logit is -inf (or NaN) gets key -inf whatever its bias, so
// NaN logits rank lowest here too.
Selection sigmoid_grouped_top_k(const std::vector<double>& logits, const RoutingInputs& inputs,
                                const RoutingConfig& routing, int32_t k) {
  const int32_t num_experts = static_cast<int32_t>(logits.size());
  std::vector<double> scores(num_experts);
  std::vector<double> keys(num_experts);
  for (int32_t e = 0; e < num_experts; ++e) {
    scores[e] = sigmoid(logits[e]);
    double key = scores[e];
    if (inputs.correction_bias.defined()) key += load_at(inputs.correction_bias, {e});
    keys[e] = logits[e] == kNegativeInfinity ? kNegativeInfinity : sanitize(key);
  }
  std::vector<char> eligible(num_experts, 1);
  if (routing.n_group > 1) eligible = kept_by_group(keys, routing.n_group, routing.topk_group);
  Selection result{top_k(keys, k, eligible), std::vector<double>(k, 0.0)};
  for (int32_t s = 0; s < k; ++s) result.weights[s] = scores[result.ids[s]];
  if (routing.renormalize) renormalize_sigmoid_weights(result.weights);
  return result;
}

Selection route_token(const MoePlan& plan, const RoutingInputs& inputs, int64_t token) {
  const int32_t num_experts = plan.moe.num_experts;
  const int32_t k = plan.moe.top_k;
  const std::vector<double> logits = token_logits(inputs, token, num_experts);
  switch (plan.routing.method) {
    case RoutingMethod::kSoftmaxTopK: return softmax_then_top_k(logits, k, plan.routing.renormalize);
    case RoutingMethod::kTopKSoftmax: return top_k_then_softmax(logits, k);
    case RoutingMethod::kSigmoidGroupedTopK:
      return sigmoid_grouped_top_k(logits, inputs, plan.routing, k);
    case RoutingMethod::kLlama4Top1Sigmoid: return sigmoid_top_k(logits, k, false);
    case RoutingMethod::kSigmoidTopK: return sigmoid_top_k(logits, k, plan.routing.renormalize);
  }
  throw Error(ErrorKind::kInternal, "fusedmoe: reference::route: unknown routing method");
}

}  // namespace

void route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
           TensorView topk_weights) {
  if (inputs.correction_bias.defined() &&
      plan.routing.method != RoutingMethod::kSigmoidGroupedTopK) {
    detail::throw_invalid("correction_bias", "absent unless method is sigmoid_grouped_topk",
                          std::string("a tensor with method ") +
                              routing_method_name(plan.routing.method));
  }
  const int64_t num_tokens = inputs.router_logits.size(0);
  const int32_t k = plan.moe.top_k;
  for (int64_t t = 0; t < num_tokens; ++t) {
    const Selection selection = route_token(plan, inputs, t);
    for (int32_t s = 0; s < k; ++s) {
      store_int_at(topk_ids, {t, s}, selection.ids[s]);
      store_at(topk_weights, {t, s}, selection.weights[s]);
      if (inputs.routed_experts_out.defined()) {
        store_int_at(inputs.routed_experts_out, {t, s}, selection.ids[s]);
      }
    }
  }
}

}  // namespace fusedmoe::reference
