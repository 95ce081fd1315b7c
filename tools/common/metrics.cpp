#include "common/metrics.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "core/host_numerics.h"

namespace fusedmoe::tools {

ErrorMetrics compare(const std::vector<double>& actual, const std::vector<double>& expected) {
  if (actual.size() != expected.size()) {
    throw std::invalid_argument("compare: " + std::to_string(actual.size()) + " values vs " +
                                std::to_string(expected.size()));
  }
  ErrorMetrics metrics;
  metrics.count = static_cast<int64_t>(actual.size());
  metrics.bitwise_equal = true;
  double diff_sq = 0.0;
  double expected_sq = 0.0;
  double actual_sq = 0.0;
  double cross = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i];
    const double b = expected[i];
    const bool finite_a = std::isfinite(a);
    const bool finite_b = std::isfinite(b);
    if (!finite_a) ++metrics.nonfinite_actual;
    if (!finite_b) ++metrics.nonfinite_expected;
    if (!(a == b)) metrics.bitwise_equal = false;
    if (!finite_a || !finite_b) continue;
    const double diff = a - b;
    diff_sq += diff * diff;
    expected_sq += b * b;
    actual_sq += a * a;
    cross += a * b;
    metrics.max_abs_err = std::max(metrics.max_abs_err, std::fabs(diff));
    metrics.max_abs_expected = std::max(metrics.max_abs_expected, std::fabs(b));
  }
  if (expected_sq > 0.0) {
    metrics.rel_l2 = std::sqrt(diff_sq / expected_sq);
  } else {
    metrics.rel_l2 = diff_sq > 0.0 ? INFINITY : 0.0;
  }
  if (metrics.max_abs_expected > 0.0) {
    metrics.max_rel = metrics.max_abs_err / metrics.max_abs_expected;
  } else {
    metrics.max_rel = metrics.max_abs_err > 0.0 ? INFINITY : 0.0;
  }
  if (actual_sq > 0.0 && expected_sq > 0.0) {
    metrics.cosine = cross / std::sqrt(actual_sq * expected_sq);
  } else {
    metrics.cosine = (actual_sq == expected_sq) ? 1.0 : 0.0;
  }
  return metrics;
}

std::vector<double> to_doubles(const TensorView& view) {
  const int64_t count = view.numel();
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    switch (view.dtype) {
      case DType::kFloat32: values[i] = static_cast<const float*>(view.data)[i]; break;
      case DType::kBFloat16:
        values[i] = numerics::bf16_bits_to_float(static_cast<const uint16_t*>(view.data)[i]);
        break;
      case DType::kFloat16:
        values[i] = numerics::f16_bits_to_float(static_cast<const uint16_t*>(view.data)[i]);
        break;
      default:
        throw std::invalid_argument(std::string("to_doubles: unsupported dtype ") +
                                    dtype_name(view.dtype));
    }
  }
  return values;
}

Tolerance tolerance_for(WeightFormat format) {
  const Tolerance a16{{4e-3, 1.6e-2}, {1e-2, 0.0}};
  const Tolerance fp8_activations{{3e-3, 3e-2}, {8e-2, 0.0}};
  switch (format) {
    case WeightFormat::kBF16:
    case WeightFormat::kMXFP4:
    case WeightFormat::kNVFP4: return a16;
    case WeightFormat::kFP8PerTensor:
    case WeightFormat::kFP8Block128: return fp8_activations;
  }
  return a16;
}

Verdict judge(const ErrorMetrics& metrics, const Bound& bound) {
  char text[200];
  Verdict verdict;
  if (metrics.nonfinite_actual > 0 || metrics.nonfinite_expected > 0) {
    std::snprintf(text, sizeof(text), "%lld NaN/Inf in the result, %lld in the expected values",
                  static_cast<long long>(metrics.nonfinite_actual),
                  static_cast<long long>(metrics.nonfinite_expected));
    verdict.reason = text;
    return verdict;
  }
  const bool l2_ok = metrics.rel_l2 <= bound.rel_l2;
  const bool max_ok = bound.max_rel <= 0.0 || metrics.max_rel <= bound.max_rel;
  verdict.pass = l2_ok && max_ok;
  int length = std::snprintf(text, sizeof(text), "rel L2 %.2e %s %.1e", metrics.rel_l2,
                             l2_ok ? "<=" : ">", bound.rel_l2);
  if (bound.max_rel > 0.0 && length > 0 && static_cast<size_t>(length) < sizeof(text)) {
    std::snprintf(text + length, sizeof(text) - static_cast<size_t>(length),
                  ", max rel %.2e %s %.1e", metrics.max_rel, max_ok ? "<=" : ">", bound.max_rel);
  }
  verdict.reason = text;
  return verdict;
}

}  // namespace fusedmoe::tools
