// Error metrics and the pass/fail rule: exact arithmetic on hand cases, NaN/Inf never pass.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/metrics.h"
#include "core/host_numerics.h"

namespace fusedmoe::tools {
namespace {

TEST(MetricsTest, HandCase) {
  const ErrorMetrics metrics = compare({1.0, 2.0, 2.0}, {1.0, 2.0, 3.0});
  EXPECT_EQ(metrics.count, 3);
  EXPECT_DOUBLE_EQ(metrics.rel_l2, 1.0 / std::sqrt(14.0));
  EXPECT_DOUBLE_EQ(metrics.max_abs_err, 1.0);
  EXPECT_DOUBLE_EQ(metrics.max_abs_expected, 3.0);
  EXPECT_NEAR(metrics.cosine, 11.0 / std::sqrt(9.0 * 14.0), 1e-15);
  EXPECT_EQ(metrics.nonfinite_actual, 0);
  EXPECT_FALSE(metrics.bitwise_equal);
}

TEST(MetricsTest, IdenticalValuesAreBitwiseEqualAndPass) {
  const ErrorMetrics metrics = compare({0.5, -1.25, 3.0}, {0.5, -1.25, 3.0});
  EXPECT_TRUE(metrics.bitwise_equal);
  EXPECT_EQ(metrics.rel_l2, 0.0);
  EXPECT_DOUBLE_EQ(metrics.cosine, 1.0);
  EXPECT_TRUE(judge(metrics, 0.0).pass);
}

TEST(MetricsTest, NaNNeverPasses) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ErrorMetrics metrics = compare({1.0, nan, 3.0}, {1.0, 2.0, 3.0});
  EXPECT_EQ(metrics.nonfinite_actual, 1);
  EXPECT_FALSE(metrics.bitwise_equal);
  const Verdict verdict = judge(metrics, 1e9);
  EXPECT_FALSE(verdict.pass);
  EXPECT_NE(verdict.reason.find("NaN/Inf"), std::string::npos);

  // NaN in both at the same place is still a failure, not a match.
  const ErrorMetrics both = compare({nan}, {nan});
  EXPECT_EQ(both.nonfinite_actual, 1);
  EXPECT_EQ(both.nonfinite_expected, 1);
  EXPECT_FALSE(both.bitwise_equal);
  EXPECT_FALSE(judge(both, 1e9).pass);
}

TEST(MetricsTest, InfinityNeverPasses) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(judge(compare({inf, 1.0}, {1.0, 1.0}), 1e9).pass);
  EXPECT_FALSE(judge(compare({1.0, 1.0}, {1.0, -inf}), 1e9).pass);
}

TEST(MetricsTest, ToleranceBoundary) {
  const ErrorMetrics metrics = compare({1.0, 0.0}, {2.0, 0.0});  // rel L2 = 0.5
  EXPECT_TRUE(judge(metrics, 0.5).pass);
  EXPECT_FALSE(judge(metrics, 0.49).pass);
  EXPECT_NE(judge(metrics, 0.49).reason.find(">"), std::string::npos);
}

TEST(MetricsTest, ZeroExpectedOnlyMatchesZero) {
  EXPECT_EQ(compare({0.0, 0.0}, {0.0, 0.0}).rel_l2, 0.0);
  const ErrorMetrics metrics = compare({1e-30, 0.0}, {0.0, 0.0});
  EXPECT_TRUE(std::isinf(metrics.rel_l2));
  EXPECT_FALSE(judge(metrics, 1e9).pass);
}

TEST(MetricsTest, SizeMismatchThrows) {
  EXPECT_THROW(compare({1.0}, {1.0, 2.0}), std::invalid_argument);
}

TEST(MetricsTest, ToleranceTablePerFormat) {
  EXPECT_DOUBLE_EQ(tolerance_for(WeightFormat::kBF16).vs_reference, 1e-2);
  EXPECT_DOUBLE_EQ(tolerance_for(WeightFormat::kFP8PerTensor).vs_reference, 3e-2);
  EXPECT_DOUBLE_EQ(tolerance_for(WeightFormat::kFP8Block128).vs_reference, 3e-2);
  EXPECT_DOUBLE_EQ(tolerance_for(WeightFormat::kMXFP4).vs_reference, 5e-2);
  EXPECT_DOUBLE_EQ(tolerance_for(WeightFormat::kNVFP4).vs_reference, 5e-2);
  for (WeightFormat format : {WeightFormat::kBF16, WeightFormat::kFP8PerTensor,
                              WeightFormat::kFP8Block128, WeightFormat::kMXFP4, WeightFormat::kNVFP4}) {
    EXPECT_GT(tolerance_for(format).vs_exact, 0.0);
  }
}

TEST(MetricsTest, ToDoublesReadsBf16AndFloat) {
  std::vector<uint16_t> bf16 = {numerics::float_to_bf16_bits(1.5f), numerics::float_to_bf16_bits(-2.0f)};
  EXPECT_EQ(to_doubles(make_view(bf16.data(), DType::kBFloat16, {2})), (std::vector<double>{1.5, -2.0}));
  std::vector<float> f32 = {0.25f, 3.0f, -1.0f};
  EXPECT_EQ(to_doubles(make_view(f32.data(), DType::kFloat32, {3})),
            (std::vector<double>{0.25, 3.0, -1.0}));
}

}  // namespace
}  // namespace fusedmoe::tools
