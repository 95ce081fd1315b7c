// Quantizers: scale choice, rounding, packing, round-trip error within each format's bound, and
// tiny-magnitude matrices keeping their relative accuracy.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/host_numerics.h"
#include "reference/quantize.h"
#include "reference_test_util.h"

namespace fusedmoe::reference {
namespace {

using numerics::e2m1_code_to_float;
using numerics::e4m3_bits_to_float;
using numerics::fp4x2_element;
using numerics::ue8m0_to_float;

std::vector<float> gaussian(int64_t count, double scale, uint64_t seed) {
  testing::Random random(seed);
  std::vector<float> out(count);
  for (float& v : out) v = static_cast<float>(scale * random.normal());
  return out;
}

double amax_of(const float* values, int64_t count) {
  double amax = 0.0;
  for (int64_t i = 0; i < count; ++i) amax = std::max(amax, std::fabs(static_cast<double>(values[i])));
  return amax;
}

// e4m3 keeps 3 fraction bits: a normal value is off by at most 2^-4 relative, a subnormal (below
// 2^-6 scale units) by at most half the subnormal step 2^-9.
void expect_within_e4m3(double value, double dequantized, double scale) {
  ASSERT_TRUE(std::isfinite(dequantized));
  EXPECT_LE(std::fabs(dequantized - value), std::max(std::fabs(value) * 0x1p-4, scale * 0x1p-10) * (1 + 1e-6))
      << value << " -> " << dequantized;
}

// The e2m1 code is a nearest grid point to value / scale (saturating at 6).
void expect_nearest_e2m1(double value_in_scale_units, uint8_t code) {
  const double chosen = std::fabs(value_in_scale_units - e2m1_code_to_float(code));
  for (uint8_t other = 0; other < 16; ++other) {
    ASSERT_LE(chosen, std::fabs(value_in_scale_units - e2m1_code_to_float(other)) + 1e-12)
        << value_in_scale_units << " coded " << int(code);
  }
}

std::vector<double> dequantize_fp8(const std::vector<uint8_t>& codes, float scale) {
  std::vector<double> out(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) out[i] = e4m3_bits_to_float(codes[i]) * static_cast<double>(scale);
  return out;
}

std::vector<double> dequantize_mxfp4(const std::vector<uint8_t>& packed, const std::vector<uint8_t>& scales,
                                     int64_t count) {
  std::vector<double> out(count);
  for (int64_t i = 0; i < count; ++i) {
    out[i] = fp4x2_element(packed[i / 2], static_cast<int>(i % 2)) * ue8m0_to_float(scales[i / 32]);
  }
  return out;
}

std::vector<double> dequantize_nvfp4(const std::vector<uint8_t>& packed, const std::vector<uint8_t>& scales,
                                     float global, int64_t count) {
  std::vector<double> out(count);
  for (int64_t i = 0; i < count; ++i) {
    out[i] = fp4x2_element(packed[i / 2], static_cast<int>(i % 2)) *
             static_cast<double>(e4m3_bits_to_float(scales[i / 16])) * global;
  }
  return out;
}

std::vector<double> as_doubles(const std::vector<float>& values) {
  return std::vector<double>(values.begin(), values.end());
}

// ---- FP8 -----------------------------------------------------------------------------------------
TEST(ReferenceQuantize, Fp8PerTensorScaleIsAmaxOver448AndRoundTripsWithinHalfUlp) {
  const std::vector<float> x = gaussian(4096, 0.02, 1);
  std::vector<uint8_t> codes(x.size());
  const float scale = quantize_fp8_per_tensor(x.data(), 4096, codes.data());
  EXPECT_EQ(scale, static_cast<float>(amax_of(x.data(), 4096)) / 448.0f);
  const std::vector<double> back = dequantize_fp8(codes, scale);
  for (size_t i = 0; i < x.size(); ++i) expect_within_e4m3(x[i], back[i], scale);
}

TEST(ReferenceQuantize, Fp8PerTensorOfZerosHasScaleOne) {
  const std::vector<float> x(10, 0.0f);
  std::vector<uint8_t> codes(10, 0xaa);
  EXPECT_EQ(quantize_fp8_per_tensor(x.data(), 10, codes.data()), 1.0f);
  for (uint8_t code : codes) EXPECT_EQ(code & 0x7f, 0);
}

TEST(ReferenceQuantize, Fp8Block128ScalesEachBlockIndependentlyWithPartialEdges) {
  const int64_t rows = 130, cols = 200;  // blocks: 2 x 2, the last ones partial
  std::vector<float> x = gaussian(rows * cols, 1.0, 2);
  for (int64_t r = 128; r < rows; ++r) {
    for (int64_t c = 128; c < cols; ++c) x[r * cols + c] *= 1000.0f;  // only block (1, 1) is large
  }
  std::vector<uint8_t> codes(rows * cols);
  std::vector<float> scales(4);
  quantize_fp8_block128(x.data(), rows, cols, codes.data(), scales.data(), ScaleFormat::kFloat32);
  EXPECT_GT(scales[3], 100.0f * scales[0]);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float scale = scales[(r / 128) * 2 + c / 128];
      expect_within_e4m3(x[r * cols + c], e4m3_bits_to_float(codes[r * cols + c]) * static_cast<double>(scale), scale);
    }
  }
}

TEST(ReferenceQuantize, Fp8Block128UE8M0ScalesAreThePowerOfTwoAtOrAboveAmaxOver448) {
  const int64_t rows = 128, cols = 256;
  const std::vector<float> x = gaussian(rows * cols, 3.0, 3);
  std::vector<uint8_t> codes(rows * cols);
  std::vector<uint8_t> scales(2);
  quantize_fp8_block128(x.data(), rows, cols, codes.data(), scales.data(), ScaleFormat::kUE8M0);
  for (int64_t b = 0; b < 2; ++b) {
    double amax = 0.0;
    for (int64_t r = 0; r < rows; ++r) amax = std::max(amax, amax_of(x.data() + r * cols + b * 128, 128));
    const double scale = ue8m0_to_float(scales[b]);
    EXPECT_GE(scale, amax / 448.0);
    EXPECT_LT(scale / 2.0, amax / 448.0);
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double scale = ue8m0_to_float(scales[c / 128]);
      expect_within_e4m3(x[r * cols + c], e4m3_bits_to_float(codes[r * cols + c]) * scale, scale);
    }
  }
}

TEST(ReferenceQuantize, Fp8GroupsQuantizeEachRowGroupAndPropagateNaN) {
  std::vector<float> x = gaussian(2 * 300, 1.0, 4);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint8_t> codes(x.size());
  std::vector<float> scales(2 * 3);
  quantize_fp8_groups(x.data(), 2, 300, 128, codes.data(), scales.data(), ScaleFormat::kFloat32);
  EXPECT_TRUE(std::isnan(e4m3_bits_to_float(codes[5])));
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t g = 0; g < 3; ++g) {
      const int64_t begin = r * 300 + g * 128;
      const int64_t count = std::min<int64_t>(128, 300 - g * 128);
      EXPECT_EQ(scales[r * 3 + g], static_cast<float>(amax_of(x.data() + begin, count)) / 448.0f);
    }
  }
  for (int64_t i = 0; i < 600; ++i) {
    if (i == 5) continue;
    expect_within_e4m3(x[i], e4m3_bits_to_float(codes[i]) * static_cast<double>(scales[(i / 300) * 3 + (i % 300) / 128]),
                       scales[(i / 300) * 3 + (i % 300) / 128]);
  }
}

TEST(ReferenceQuantize, WeightQuantizersRejectNonFiniteValues) {
  std::vector<float> x(256, 1.0f);
  x[17] = std::numeric_limits<float>::infinity();
  std::vector<uint8_t> bytes(256);
  std::vector<float> scales(4);
  EXPECT_THROW(quantize_fp8_per_tensor(x.data(), 256, bytes.data()), Error);
  EXPECT_THROW(quantize_fp8_block128(x.data(), 2, 128, bytes.data(), scales.data(), ScaleFormat::kFloat32), Error);
  EXPECT_THROW(quantize_mxfp4(x.data(), 1, 256, bytes.data(), bytes.data() + 128), Error);
  x[17] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(quantize_nvfp4(x.data(), 1, 256, bytes.data(), bytes.data() + 128), Error);
}

// ---- MXFP4 ---------------------------------------------------------------------------------------
TEST(ReferenceQuantize, Mxfp4PacksEvenElementsInTheLowNibble) {
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f;    // code 2
  x[1] = 6.0f;    // code 7 (sets the amax: scale 1)
  x[2] = -6.0f;   // code 0xf
  x[3] = -0.5f;   // code 9
  std::vector<uint8_t> packed(16), scales(1);
  quantize_mxfp4(x.data(), 1, 32, packed.data(), scales.data());
  EXPECT_EQ(scales[0], 127);
  EXPECT_EQ(packed[0], 0x72);
  EXPECT_EQ(packed[1], 0x9f);
}

TEST(ReferenceQuantize, Mxfp4ScaleIsTheSmallestPowerOfTwoKeepingAmaxWithinSix) {
  const int64_t rows = 8, cols = 128;
  std::vector<float> x = gaussian(rows * cols, 0.7, 5);
  x[40] = 12.0f;  // amax exactly 6 * 2: scale 2, not 4
  std::vector<uint8_t> packed(rows * cols / 2), scales(rows * cols / 32);
  quantize_mxfp4(x.data(), rows, cols, packed.data(), scales.data());
  EXPECT_EQ(ue8m0_to_float(scales[1]), 2.0f);
  for (int64_t b = 0; b < rows * cols / 32; ++b) {
    const double amax = amax_of(x.data() + b * 32, 32);
    const double scale = ue8m0_to_float(scales[b]);
    EXPECT_LE(amax / scale, 6.0);
    EXPECT_GT(amax / (scale / 2.0), 6.0);
    for (int64_t i = 0; i < 32; ++i) {
      const int64_t index = b * 32 + i;
      const uint8_t code = index % 2 == 0 ? (packed[index / 2] & 0xf) : (packed[index / 2] >> 4);
      expect_nearest_e2m1(x[index] / scale, code);
    }
  }
}

// ---- NVFP4 ---------------------------------------------------------------------------------------
TEST(ReferenceQuantize, Nvfp4GlobalScaleMapsTheMatrixAmaxToTheTopOfBothFormats) {
  const int64_t rows = 4, cols = 64;
  const std::vector<float> x = gaussian(rows * cols, 0.3, 6);
  std::vector<uint8_t> packed(rows * cols / 2), scales(rows * cols / 16);
  const float global = quantize_nvfp4(x.data(), rows, cols, packed.data(), scales.data());
  EXPECT_EQ(global, static_cast<float>(amax_of(x.data(), rows * cols)) / (448.0f * 6.0f));
  for (int64_t b = 0; b < rows * cols / 16; ++b) {
    const float amax = static_cast<float>(amax_of(x.data() + b * 16, 16));
    EXPECT_EQ(scales[b], numerics::float_to_e4m3_bits(amax / (6.0f * global)));
    const double block_scale = static_cast<double>(e4m3_bits_to_float(scales[b])) * global;
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t index = b * 16 + i;
      const uint8_t code = index % 2 == 0 ? (packed[index / 2] & 0xf) : (packed[index / 2] >> 4);
      // Nearest to x / fl32(block_scale): allow the one-ulp difference of the fp32 product.
      const double units = x[index] / block_scale;
      const double chosen = std::fabs(units - e2m1_code_to_float(code));
      for (uint8_t other = 0; other < 16; ++other) {
        EXPECT_LE(chosen, std::fabs(units - e2m1_code_to_float(other)) + 1e-5);
      }
    }
  }
}

// ---- error budgets and tiny magnitudes --------------------------------------------------------------
enum class Format { kFp8PerTensor, kFp8Block128, kMxfp4, kNvfp4 };

double round_trip_error(Format format, double magnitude) {
  const int64_t rows = 128, cols = 256;
  const std::vector<float> x = gaussian(rows * cols, magnitude, 11);
  std::vector<uint8_t> codes(rows * cols);
  std::vector<double> back;
  switch (format) {
    case Format::kFp8PerTensor:
      back = dequantize_fp8(codes, quantize_fp8_per_tensor(x.data(), rows * cols, codes.data()));
      break;
    case Format::kFp8Block128: {
      std::vector<float> scales(2);
      quantize_fp8_block128(x.data(), rows, cols, codes.data(), scales.data(), ScaleFormat::kFloat32);
      back.resize(rows * cols);
      for (int64_t i = 0; i < rows * cols; ++i) back[i] = e4m3_bits_to_float(codes[i]) * static_cast<double>(scales[(i % cols) / 128]);
      break;
    }
    case Format::kMxfp4: {
      std::vector<uint8_t> scales(rows * cols / 32);
      quantize_mxfp4(x.data(), rows, cols, codes.data(), scales.data());
      back = dequantize_mxfp4(codes, scales, rows * cols);
      break;
    }
    case Format::kNvfp4: {
      std::vector<uint8_t> scales(rows * cols / 16);
      const float global = quantize_nvfp4(x.data(), rows, cols, codes.data(), scales.data());
      back = dequantize_nvfp4(codes, scales, global, rows * cols);
      break;
    }
  }
  return testing::relative_l2(back, as_doubles(x));
}

// Gaussian data: fp8 e4m3 rel-L2 is about 2^-4 / sqrt(3) * (rms relative error) ~ 0.02-0.03;
// e2m1 with per-block scales about 0.1. Bounds sit above the expected value, far below what a
// wrong scale or a nibble swap gives (~1).
TEST(ReferenceQuantize, RoundTripErrorsStayWithinEachFormatsBudget) {
  EXPECT_LT(round_trip_error(Format::kFp8PerTensor, 1.0), 0.04);
  EXPECT_LT(round_trip_error(Format::kFp8Block128, 1.0), 0.04);
  EXPECT_LT(round_trip_error(Format::kMxfp4, 1.0), 0.15);
  EXPECT_LT(round_trip_error(Format::kNvfp4, 1.0), 0.12);
}

TEST(ReferenceQuantize, TinyMagnitudeMatricesKeepTheirRelativeAccuracy) {
  for (Format format : {Format::kFp8PerTensor, Format::kFp8Block128, Format::kMxfp4, Format::kNvfp4}) {
    const double unit = round_trip_error(format, 1.0);
    const double tiny = round_trip_error(format, 1e-8);
    EXPECT_NEAR(tiny, unit, 0.05 * unit) << "format " << static_cast<int>(format);
  }
}

}  // namespace
}  // namespace fusedmoe::reference
