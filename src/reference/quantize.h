// Weight and activation quantizers that define each format (the reference's encoders). Used to
// build test layers from float master weights, by the tool, and by the reference itself for the
// activation quantization steps. One expert matrix at a time, row-major [rows, cols], K = cols.
#pragma once

#include <cstdint>

#include "fusedmoe/config.h"

namespace fusedmoe::reference {

// FP8 e4m3, one scale for the whole matrix: scale = amax / 448 (1 when amax is 0).
// Writes e4m3 bytes and returns the dequantization scale (fp8 value * scale = real value).
float quantize_fp8_per_tensor(const float* src, int64_t count, uint8_t* dst);

// FP8 e4m3 with one scale per 128x128 block (partial edge blocks allowed).
// scales: [ceil(rows/128), ceil(cols/128)], fp32 (ScaleFormat::kFloat32) or ue8m0 bytes.
void quantize_fp8_block128(const float* src, int64_t rows, int64_t cols, uint8_t* dst,
                           void* scales, ScaleFormat scale_format);

// FP8 e4m3 with one scale per 1x`group` slice of a row (activations, group = 128).
// scales: fp32 [rows, ceil(cols/group)] (ue8m0 rounding applied to the fp32 value when asked).
void quantize_fp8_groups(const float* src, int64_t rows, int64_t cols, int64_t group,
                         uint8_t* dst, float* scales, ScaleFormat scale_format);

// MXFP4: e2m1 packed two per byte, one ue8m0 scale per 32 values along a row. cols % 32 == 0.
// dst: [rows, cols/2]; scales: [rows, cols/32].
void quantize_mxfp4(const float* src, int64_t rows, int64_t cols, uint8_t* dst, uint8_t* scales);

// NVFP4: e2m1 packed, one e4m3 scale per 16 values along a row, plus a per-matrix fp32 global
// scale (a multiplier): value = e2m1 * e4m3_scale * global_scale. cols % 16 == 0.
// dst: [rows, cols/2]; scales: [rows, cols/16]; returns global_scale.
float quantize_nvfp4(const float* src, int64_t rows, int64_t cols, uint8_t* dst, uint8_t* scales);

}  // namespace fusedmoe::reference
