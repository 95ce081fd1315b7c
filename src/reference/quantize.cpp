// Quantizers that define each low-precision format: how a scale is chosen from the data and how
// values are rounded. The reference uses quantize_fp8_groups for every dynamic activation step;
// tests and the tool build FP8 / MXFP4 / NVFP4 layers from float master weights with the rest.
//
// Scales are derived from the data's own amax (no fixed epsilon), so a matrix of 1e-8 weights keeps
// the same relative accuracy as one of 1.0 weights. All-zero data gets scale 1.
#include "reference/quantize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "core/check.h"
#include "core/host_numerics.h"

namespace fusedmoe::reference {
namespace {

using numerics::kFp4E2M1Max;
using numerics::kFp8E4M3Max;

// Largest |value|; NaN is skipped here (it still propagates through the value itself).
float abs_max(const float* values, int64_t count, int64_t stride = 1) {
  float amax = 0.0f;
  for (int64_t i = 0; i < count; ++i) amax = std::max(amax, std::fabs(values[i * stride]));
  return amax;
}

// Weights must be finite: a NaN or Inf weight would poison a whole block's scale silently.
void require_finite(const float* values, int64_t count, const char* quantizer) {
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) {
      detail::throw_invalid(std::string(quantizer) + " source", "finite values",
                            "a non-finite value at index " + std::to_string(i));
    }
  }
}

// Scale of a dynamically quantized FP8 group: amax / 448 in fp32 (the smallest positive float if
// that underflows, so the division below stays finite), 1 for an all-zero group; with kUE8M0,
// rounded up to a power of two so no value saturates.
float fp8_scale(float amax, ScaleFormat format) {
  if (amax == 0.0f) return 1.0f;
  float scale = amax / kFp8E4M3Max;
  if (std::isfinite(scale)) {
    scale = std::max(scale, FLT_TRUE_MIN);
    if (format == ScaleFormat::kUE8M0) scale = numerics::ue8m0_to_float(numerics::float_to_ue8m0_ceil(scale));
  }
  return scale;
}

// ue8m0 exponent byte of the smallest power of two p with amax / p <= 6 (exact, checked in double).
uint8_t mxfp4_scale_byte(float amax) {
  if (amax == 0.0f) return 127;  // scale 1
  int byte = numerics::float_to_ue8m0_ceil(amax / kFp4E2M1Max);
  while (byte < 254 && static_cast<double>(amax) > kFp4E2M1Max * std::ldexp(1.0, byte - 127)) ++byte;
  while (byte > 0 && static_cast<double>(amax) <= kFp4E2M1Max * std::ldexp(1.0, byte - 128)) --byte;
  return static_cast<uint8_t>(byte);
}

void set_nibble(uint8_t* packed, int64_t index, uint8_t code) {
  uint8_t& byte = packed[index / 2];
  byte = (index % 2 == 0) ? static_cast<uint8_t>((byte & 0xf0u) | code)
                          : static_cast<uint8_t>((byte & 0x0fu) | (code << 4));
}

}  // namespace

float quantize_fp8_per_tensor(const float* src, int64_t count, uint8_t* dst) {
  require_finite(src, count, "quantize_fp8_per_tensor");
  const float scale = fp8_scale(abs_max(src, count), ScaleFormat::kFloat32);
  for (int64_t i = 0; i < count; ++i) dst[i] = numerics::float_to_e4m3_bits(src[i] / scale);
  return scale;
}

void quantize_fp8_block128(const float* src, int64_t rows, int64_t cols, uint8_t* dst,
                           void* scales, ScaleFormat scale_format) {
  constexpr int64_t kBlock = 128;
  require_finite(src, rows * cols, "quantize_fp8_block128");
  const int64_t block_rows = (rows + kBlock - 1) / kBlock;
  const int64_t block_cols = (cols + kBlock - 1) / kBlock;
  for (int64_t br = 0; br < block_rows; ++br) {
    for (int64_t bc = 0; bc < block_cols; ++bc) {
      const int64_t row_end = std::min(rows, (br + 1) * kBlock);
      const int64_t col_end = std::min(cols, (bc + 1) * kBlock);
      float amax = 0.0f;
      for (int64_t r = br * kBlock; r < row_end; ++r) {
        amax = std::max(amax, abs_max(src + r * cols + bc * kBlock, col_end - bc * kBlock));
      }
      const float scale = fp8_scale(amax, scale_format);
      const int64_t scale_index = br * block_cols + bc;
      if (scale_format == ScaleFormat::kUE8M0) {
        static_cast<uint8_t*>(scales)[scale_index] = numerics::float_to_ue8m0_ceil(scale);
      } else {
        static_cast<float*>(scales)[scale_index] = scale;
      }
      for (int64_t r = br * kBlock; r < row_end; ++r) {
        for (int64_t c = bc * kBlock; c < col_end; ++c) {
          dst[r * cols + c] = numerics::float_to_e4m3_bits(src[r * cols + c] / scale);
        }
      }
    }
  }
}

void quantize_fp8_groups(const float* src, int64_t rows, int64_t cols, int64_t group,
                         uint8_t* dst, float* scales, ScaleFormat scale_format) {
  const int64_t groups = (cols + group - 1) / group;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = g * group;
      const int64_t end = std::min(cols, begin + group);
      const float* values = src + r * cols;
      const float scale = fp8_scale(abs_max(values + begin, end - begin), scale_format);
      scales[r * groups + g] = scale;
      for (int64_t c = begin; c < end; ++c) dst[r * cols + c] = numerics::float_to_e4m3_bits(values[c] / scale);
    }
  }
}

void quantize_mxfp4(const float* src, int64_t rows, int64_t cols, uint8_t* dst, uint8_t* scales) {
  constexpr int64_t kBlock = 32;
  require_finite(src, rows * cols, "quantize_mxfp4");
  std::memset(dst, 0, static_cast<size_t>(rows * cols / 2));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < cols / kBlock; ++b) {
      const float* block = src + r * cols + b * kBlock;
      const uint8_t scale_byte = mxfp4_scale_byte(abs_max(block, kBlock));
      scales[r * (cols / kBlock) + b] = scale_byte;
      const float scale = numerics::ue8m0_to_float(scale_byte);
      for (int64_t i = 0; i < kBlock; ++i) {
        set_nibble(dst + r * (cols / 2), b * kBlock + i, numerics::float_to_e2m1_code(block[i] / scale));
      }
    }
  }
}

float quantize_nvfp4(const float* src, int64_t rows, int64_t cols, uint8_t* dst, uint8_t* scales) {
  constexpr int64_t kBlock = 16;
  require_finite(src, rows * cols, "quantize_nvfp4");
  std::memset(dst, 0, static_cast<size_t>(rows * cols / 2));
  const float matrix_amax = abs_max(src, rows * cols);
  // The largest block scale (448) times the largest e2m1 value (6) reaches the matrix amax.
  const float global_scale = matrix_amax == 0.0f ? 1.0f : matrix_amax / (kFp8E4M3Max * kFp4E2M1Max);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < cols / kBlock; ++b) {
      const float* block = src + r * cols + b * kBlock;
      const uint8_t scale_code =
          numerics::float_to_e4m3_bits(abs_max(block, kBlock) / (kFp4E2M1Max * global_scale));
      scales[r * (cols / kBlock) + b] = scale_code;
      const float block_scale = numerics::e4m3_bits_to_float(scale_code) * global_scale;
      for (int64_t i = 0; i < kBlock; ++i) {
        // A block far below the matrix amax can get block scale 0: its values are then 0.
        const uint8_t code = block_scale == 0.0f ? 0 : numerics::float_to_e2m1_code(block[i] / block_scale);
        set_nibble(dst + r * (cols / 2), b * kBlock + i, code);
      }
    }
  }
  return global_scale;
}

}  // namespace fusedmoe::reference
