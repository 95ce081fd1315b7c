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
  EXPECT_TRUE(judge(metrics, Bound{0.0, 0.0}).pass);
}

TEST(MetricsTest, NaNNeverPasses) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ErrorMetrics metrics = compare({1.0, nan, 3.0}, {1.0, 2.0, 3.0});
  EXPECT_EQ(metrics.nonfinite_actual, 1);
  EXPECT_FALSE(metrics.bitwise_equal);
  const Verdict verdict = judge(metrics, Bound{1e9, 0.0});
  EXPECT_FALSE(verdict.pass);
  EXPECT_NE(verdict.reason.find("NaN/Inf"), std::string::npos);

  // NaN in both at the same place is still a failure, not a match.
  const ErrorMetrics both = compare({nan}, {nan});
  EXPECT_EQ(both.nonfinite_actual, 1);
  EXPECT_EQ(both.nonfinite_expected, 1);
  EXPECT_FALSE(both.bitwise_equal);
  EXPECT_FALSE(judge(both, Bound{1e9, 0.0}).pass);
}

TEST(MetricsTest, InfinityNeverPasses) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(judge(compare({inf, 1.0}, {1.0, 1.0}), Bound{1e9, 0.0}).pass);
  EXPECT_FALSE(judge(compare({1.0, 1.0}, {1.0, -inf}), Bound{1e9, 0.0}).pass);
}

TEST(MetricsTest, ToleranceBoundary) {
  const ErrorMetrics metrics = compare({1.0, 0.0}, {2.0, 0.0});  // rel L2 = 0.5, max rel 0.5
  EXPECT_DOUBLE_EQ(metrics.max_rel, 0.5);
  EXPECT_TRUE(judge(metrics, Bound{0.5, 0.0}).pass);
  EXPECT_FALSE(judge(metrics, Bound{0.49, 0.0}).pass);
  EXPECT_NE(judge(metrics, Bound{0.49, 0.0}).reason.find(">"), std::string::npos);
  EXPECT_TRUE(judge(metrics, Bound{0.5, 0.5}).pass);
  const Verdict max_rel_fails = judge(metrics, Bound{1.0, 0.4});
  EXPECT_FALSE(max_rel_fails.pass);
  EXPECT_NE(max_rel_fails.reason.find("max rel 5.00e-01 > 4.0e-01"), std::string::npos)
      << max_rel_fails.reason;
}

// A small rel L2 can hide one bad element; max_rel catches it.
TEST(MetricsTest, MaxRelCatchesOneBadElement) {
  std::vector<double> expected(10000, 1.0);
  std::vector<double> actual = expected;
  actual[17] = 1.1;
  const ErrorMetrics metrics = compare(actual, expected);
  EXPECT_LT(metrics.rel_l2, 2e-3);
  EXPECT_NEAR(metrics.max_rel, 0.1, 1e-12);
  EXPECT_FALSE(judge(metrics, tolerance_for(WeightFormat::kBF16).vs_reference).pass);
}

TEST(MetricsTest, ZeroExpectedOnlyMatchesZero) {
  EXPECT_EQ(compare({0.0, 0.0}, {0.0, 0.0}).rel_l2, 0.0);
  const ErrorMetrics metrics = compare({1e-30, 0.0}, {0.0, 0.0});
  EXPECT_TRUE(std::isinf(metrics.rel_l2));
  EXPECT_FALSE(judge(metrics, Bound{1e9, 0.0}).pass);
}

TEST(MetricsTest, SizeMismatchThrows) {
  EXPECT_THROW(compare({1.0}, {1.0, 2.0}), std::invalid_argument);
}

// docs/NUMERICS.md, "Tolerances: GPU against the reference".
TEST(MetricsTest, ToleranceTablePerFormat) {
  for (WeightFormat a16 : {WeightFormat::kBF16, WeightFormat::kMXFP4, WeightFormat::kNVFP4}) {
    EXPECT_DOUBLE_EQ(tolerance_for(a16).vs_reference.rel_l2, 4e-3);
    EXPECT_DOUBLE_EQ(tolerance_for(a16).vs_reference.max_rel, 1.6e-2);
    EXPECT_DOUBLE_EQ(tolerance_for(a16).vs_exact.rel_l2, 1e-2);
  }
  for (WeightFormat fp8 : {WeightFormat::kFP8PerTensor, WeightFormat::kFP8Block128}) {
    EXPECT_DOUBLE_EQ(tolerance_for(fp8).vs_reference.rel_l2, 3e-3);
    EXPECT_DOUBLE_EQ(tolerance_for(fp8).vs_reference.max_rel, 3e-2);
    EXPECT_DOUBLE_EQ(tolerance_for(fp8).vs_exact.rel_l2, 8e-2);
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
