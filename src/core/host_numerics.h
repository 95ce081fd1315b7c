// Host-side encoders/decoders of the element types fusedmoe handles. Used by the CPU reference,
// the tests and the command-line tool; the device kernels use the CUDA intrinsics that round the
// same way (round to nearest even, saturating fp8 conversion).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace fusedmoe::numerics {

inline uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

inline float bits_float(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// ---- bfloat16 -------------------------------------------------------------------------------
inline uint16_t float_to_bf16_bits(float value) {
  uint32_t bits = float_bits(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}
inline float bf16_bits_to_float(uint16_t bits) { return bits_float(static_cast<uint32_t>(bits) << 16); }
inline float round_to_bf16(float value) { return bf16_bits_to_float(float_to_bf16_bits(value)); }

// ---- float16 (IEEE binary16) ----------------------------------------------------------------
inline uint16_t float_to_f16_bits(float value) {
  const uint32_t bits = float_bits(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs_bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs_bits < 0x38800000u) {
    // Subnormal or zero in half: value = m * 2^-24.
    const float magnitude = bits_float(abs_bits);
    const float scaled = magnitude * 16777216.0f;  // 2^24
    const float rounded = std::nearbyint(scaled);  // default rounding mode: nearest even
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(rounded));
  }
  uint32_t mantissa = abs_bits + 0xfffu + ((abs_bits >> 13) & 1u);
  mantissa -= 0x38000000u;  // rebias exponent 127 -> 15
  return static_cast<uint16_t>(sign | (mantissa >> 13));
}
inline float f16_bits_to_float(uint16_t half) {
  const uint32_t sign = (static_cast<uint32_t>(half) & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}
inline float round_to_f16(float value) { return f16_bits_to_float(float_to_f16_bits(value)); }

// ---- float8 e4m3 (OCP e4m3fn: bias 7, max 448, 0x7f/0xff NaN, no Inf) ------------------------
constexpr float kFp8E4M3Max = 448.0f;

inline float e4m3_bits_to_float(uint8_t bits) {
  const bool negative = (bits & 0x80u) != 0;
  const uint32_t exponent = (bits >> 3) & 0xfu;
  const uint32_t mantissa = bits & 0x7u;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m/8 * 2^-6
  } else {
    magnitude = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, static_cast<int>(exponent) - 7);
  }
  return negative ? -magnitude : magnitude;
}

// Round to nearest even, saturating to +-448 (the cvt.rn.satfinite behaviour); NaN -> NaN.
inline uint8_t float_to_e4m3_bits(float value) {
  if (std::isnan(value)) return 0x7f;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  float magnitude = std::fabs(value);
  if (magnitude >= kFp8E4M3Max) return static_cast<uint8_t>(sign | 0x7e);  // 448
  // Find the nearest representable value by its exponent bucket.
  int exponent;
  std::frexp(magnitude, &exponent);  // magnitude = f * 2^exponent, f in [0.5, 1)
  int unbiased = exponent - 1;       // magnitude in [2^unbiased, 2^(unbiased+1))
  if (unbiased < -6) unbiased = -6;  // subnormal range shares the 2^-6 quantum / 8
  const float quantum = std::ldexp(1.0f, unbiased - 3);
  const float steps = std::nearbyint(magnitude / quantum);  // exact division by a power of two
  const float rounded = steps * quantum;
  if (rounded == 0.0f) return sign;
  if (rounded >= kFp8E4M3Max) return static_cast<uint8_t>(sign | 0x7e);
  int rexp;
  std::frexp(rounded, &rexp);
  int runbiased = rexp - 1;
  if (runbiased < -6) {
    const uint32_t mantissa = static_cast<uint32_t>(std::ldexp(rounded, 9));
    return static_cast<uint8_t>(sign | mantissa);
  }
  const uint32_t biased = static_cast<uint32_t>(runbiased + 7);
  const uint32_t mantissa =
      static_cast<uint32_t>(std::ldexp(rounded, -runbiased) * 8.0f) - 8u;  // 3 fraction bits
  return static_cast<uint8_t>(sign | (biased << 3) | mantissa);
}
inline float round_to_e4m3(float value) { return e4m3_bits_to_float(float_to_e4m3_bits(value)); }

// ---- e2m1 (fp4): codes 0..7 = 0, 0.5, 1, 1.5, 2, 3, 4, 6; bit 3 = sign -------------------------
constexpr float kFp4E2M1Max = 6.0f;

inline float e2m1_code_to_float(uint8_t code) {
  static constexpr float kValues[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float magnitude = kValues[code & 0x7u];
  return (code & 0x8u) ? -magnitude : magnitude;
}

// Round to nearest (ties to the even code), saturating at 6. NaN encodes as +0 (e2m1 has no NaN;
// quantizers reject NaN input before getting here).
inline uint8_t float_to_e2m1_code(float value) {
  if (std::isnan(value)) return 0;
  const uint8_t sign = std::signbit(value) ? 0x8 : 0x0;
  const float magnitude = std::fabs(value);
  // Midpoints between consecutive codes; ties go to the even code.
  static constexpr float kMidpoints[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  uint8_t code = 0;
  while (code < 7 && magnitude > kMidpoints[code]) ++code;
  if (code < 7 && magnitude == kMidpoints[code] && (code & 1u)) ++code;
  return static_cast<uint8_t>(sign | code);
}

// Byte holding elements 2i (low nibble) and 2i+1 (high nibble).
inline float fp4x2_element(uint8_t byte, int index_in_byte) {
  return e2m1_code_to_float(index_in_byte == 0 ? (byte & 0xfu) : (byte >> 4));
}

// ---- ue8m0 ------------------------------------------------------------------------------------
inline float ue8m0_to_float(uint8_t bits) {
  if (bits == 0xff) return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, static_cast<int>(bits) - 127);
}
// Smallest power of two >= value (value > 0), as a ue8m0 byte (clamped to the representable range).
inline uint8_t float_to_ue8m0_ceil(float value) {
  if (!(value > 0.0f)) return 0;
  int exponent;
  const float fraction = std::frexp(value, &exponent);  // value = fraction * 2^exponent
  int power = (fraction == 0.5f) ? exponent - 1 : exponent;
  power += 127;
  if (power < 0) power = 0;
  if (power > 254) power = 254;
  return static_cast<uint8_t>(power);
}

}  // namespace fusedmoe::numerics
