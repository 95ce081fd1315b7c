#include <gtest/gtest.h>

#include <cmath>

#include "core/host_numerics.h"

namespace fusedmoe::numerics {
namespace {

TEST(HostNumerics, E4M3DecodeEncodeRoundTripsEveryCode) {
  for (int code = 0; code < 256; ++code) {
    const float value = e4m3_bits_to_float(static_cast<uint8_t>(code));
    if (std::isnan(value)) {
      EXPECT_TRUE((code & 0x7f) == 0x7f) << code;
      continue;
    }
    const uint8_t back = float_to_e4m3_bits(value);
    if (value == 0.0f) {
      EXPECT_EQ(back & 0x7f, 0) << code;
    } else {
      EXPECT_EQ(back, code) << "value " << value;
    }
  }
}

TEST(HostNumerics, E4M3RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(e4m3_bits_to_float(float_to_e4m3_bits(448.0f)), 448.0f);
  EXPECT_EQ(e4m3_bits_to_float(float_to_e4m3_bits(1e6f)), 448.0f);
  EXPECT_EQ(e4m3_bits_to_float(float_to_e4m3_bits(-1e6f)), -448.0f);
  // 1.0625 lies halfway between 1.0 and 1.125: ties to even mantissa (1.0).
  EXPECT_EQ(round_to_e4m3(1.0625f), 1.0f);
  EXPECT_EQ(round_to_e4m3(1.1875f), 1.25f);  // halfway 1.125/1.25 -> even (1.25)
  // Smallest subnormal is 2^-9; half of it rounds to zero (tie to even).
  EXPECT_EQ(round_to_e4m3(std::ldexp(1.0f, -9)), std::ldexp(1.0f, -9));
  EXPECT_EQ(round_to_e4m3(std::ldexp(1.0f, -10)), 0.0f);
  EXPECT_TRUE(std::isnan(round_to_e4m3(std::nanf(""))));
}

TEST(HostNumerics, Bf16RoundsToNearestEven) {
  EXPECT_EQ(round_to_bf16(1.0f), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  EXPECT_EQ(round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(round_to_bf16(std::nanf(""))));
  EXPECT_TRUE(std::isinf(round_to_bf16(INFINITY)));
}

TEST(HostNumerics, F16RoundTripsEveryFiniteCode) {
  for (int code = 0; code < 65536; ++code) {
    const float value = f16_bits_to_float(static_cast<uint16_t>(code));
    if (std::isnan(value)) continue;
    EXPECT_EQ(float_to_f16_bits(value), code) << "value " << value;
  }
  EXPECT_TRUE(std::isinf(round_to_f16(70000.0f)));
}

TEST(HostNumerics, E2M1EncodesEveryCodeAndTiesToEven) {
  for (int code = 0; code < 16; ++code) {
    const float value = e2m1_code_to_float(static_cast<uint8_t>(code));
    if (value == 0.0f) continue;
    EXPECT_EQ(float_to_e2m1_code(value), code);
  }
  EXPECT_EQ(e2m1_code_to_float(float_to_e2m1_code(2.5f)), 2.0f);  // 2 (code 4) is even
  EXPECT_EQ(e2m1_code_to_float(float_to_e2m1_code(5.0f)), 4.0f);  // 4 (code 6) is even
  EXPECT_EQ(e2m1_code_to_float(float_to_e2m1_code(100.0f)), 6.0f);
  EXPECT_EQ(e2m1_code_to_float(float_to_e2m1_code(-0.8f)), -1.0f);
}

TEST(HostNumerics, Ue8m0CeilIsTheSmallestPowerOfTwoAbove) {
  EXPECT_EQ(ue8m0_to_float(float_to_ue8m0_ceil(1.0f)), 1.0f);
  EXPECT_EQ(ue8m0_to_float(float_to_ue8m0_ceil(1.5f)), 2.0f);
  EXPECT_EQ(ue8m0_to_float(float_to_ue8m0_ceil(0.3f)), 0.5f);
  EXPECT_TRUE(std::isnan(ue8m0_to_float(0xff)));
}

}  // namespace
}  // namespace fusedmoe::numerics
