// The counter-based normal generator behind the GPU fill (device_random.h), run on the host: it
// is deterministic, streams differ, values look standard normal and are never zero or NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "common/device_random.h"

namespace fusedmoe::tools {
namespace {

TEST(DeviceRandomTest, PureFunctionOfSeedTensorAndIndex) {
  const uint64_t key = random_stream_key(7, 3);
  EXPECT_EQ(counter_normal(key, 12345), counter_normal(random_stream_key(7, 3), 12345));
  EXPECT_NE(counter_normal(key, 12345), counter_normal(random_stream_key(8, 3), 12345));
  EXPECT_NE(counter_normal(key, 12345), counter_normal(random_stream_key(7, 4), 12345));
  EXPECT_NE(counter_normal(key, 12344), counter_normal(key, 12345));  // the pair's two halves
  float even = 0.0f;
  float odd = 0.0f;
  counter_normal_pair(key, 6172, even, odd);
  EXPECT_EQ(even, counter_normal(key, 12344));
  EXPECT_EQ(odd, counter_normal(key, 12345));
  // 64-bit indices past 2^32 (DeepSeek-V3's w13 has 7.5e9 elements) stay distinct streams.
  EXPECT_NE(counter_normal(key, 5), counter_normal(key, 5 + (uint64_t{1} << 33)));
}

TEST(DeviceRandomTest, LooksStandardNormal) {
  const uint64_t key = random_stream_key(0, 1);
  constexpr int kCount = 1 << 20;
  double sum = 0.0;
  double sum_sq = 0.0;
  double sum_fourth = 0.0;
  int beyond_two = 0;
  for (int i = 0; i < kCount; ++i) {
    const float value = counter_normal(key, static_cast<uint64_t>(i));
    ASSERT_TRUE(std::isfinite(value)) << i;
    ASSERT_NE(value, 0.0f) << i;
    sum += value;
    sum_sq += static_cast<double>(value) * value;
    sum_fourth += std::pow(static_cast<double>(value), 4);
    beyond_two += std::fabs(value) > 2.0f;
  }
  const double mean = sum / kCount;
  const double variance = sum_sq / kCount - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(variance, 1.0, 0.01);
  EXPECT_NEAR(sum_fourth / kCount, 3.0, 0.05);                          // normal kurtosis
  EXPECT_NEAR(static_cast<double>(beyond_two) / kCount, 0.0455, 0.002);  // P(|z| > 2)
}

}  // namespace
}  // namespace fusedmoe::tools
