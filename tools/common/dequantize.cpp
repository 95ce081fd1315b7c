#include "common/dequantize.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "core/host_numerics.h"

namespace fusedmoe::tools {

namespace {

// Every 8-bit code decoded once: the evaluation decodes millions of weights per expert.
struct DecodeTables {
  float e4m3[256];
  float ue8m0[256];
  float fp4_low[256];   // element 2i of a packed byte
  float fp4_high[256];  // element 2i + 1
};

const DecodeTables& decode_tables() {
  static const DecodeTables tables = [] {
    DecodeTables built{};
    for (int code = 0; code < 256; ++code) {
      const auto byte = static_cast<uint8_t>(code);
      built.e4m3[code] = numerics::e4m3_bits_to_float(byte);
      built.ue8m0[code] = numerics::ue8m0_to_float(byte);
      built.fp4_low[code] = numerics::fp4x2_element(byte, 0);
      built.fp4_high[code] = numerics::fp4x2_element(byte, 1);
    }
    return built;
  }();
  return tables;
}

float read_scale(const TensorView& view, int64_t index) {
  switch (view.dtype) {
    case DType::kFloat32: return static_cast<const float*>(view.data)[index];
    case DType::kUE8M0: return numerics::ue8m0_to_float(static_cast<const uint8_t*>(view.data)[index]);
    case DType::kFloat8E4M3:
      return numerics::e4m3_bits_to_float(static_cast<const uint8_t*>(view.data)[index]);
    default: break;
  }
  throw std::invalid_argument(std::string("dequantize: unexpected scale dtype ") + dtype_name(view.dtype));
}

}  // namespace

int64_t matrix_rows(const MoeConfig& moe, ExpertMatrix matrix) {
  if (matrix == ExpertMatrix::kW2) return moe.hidden_size;
  return activation_is_gated(moe.activation) ? 2 * int64_t{moe.intermediate_size}
                                             : moe.intermediate_size;
}

int64_t matrix_cols(const MoeConfig& moe, ExpertMatrix matrix) {
  return matrix == ExpertMatrix::kW2 ? moe.intermediate_size : moe.hidden_size;
}

void dequantize_expert(const MoeConfig& moe, const ExpertWeights& weights, ExpertMatrix matrix,
                       int32_t local_expert, std::vector<float>& out) {
  const bool is_w13 = matrix == ExpertMatrix::kW13;
  const TensorView& values = is_w13 ? weights.w13 : weights.w2;
  const TensorView& scales = is_w13 ? weights.w13_scale : weights.w2_scale;
  const TensorView& global = is_w13 ? weights.w13_global_scale : weights.w2_global_scale;
  const int64_t rows = matrix_rows(moe, matrix);
  const int64_t cols = matrix_cols(moe, matrix);
  const int64_t count = rows * cols;
  out.resize(static_cast<size_t>(count));
  const int64_t expert = local_expert;

  const DecodeTables& table = decode_tables();
  switch (moe.weight_format) {
    case WeightFormat::kBF16: {
      const uint16_t* src = static_cast<const uint16_t*>(values.data) + expert * count;
      for (int64_t i = 0; i < count; ++i) out[i] = numerics::bf16_bits_to_float(src[i]);
      return;
    }
    case WeightFormat::kFP8PerTensor: {
      const uint8_t* src = static_cast<const uint8_t*>(values.data) + expert * count;
      const float scale = read_scale(scales, expert);
      for (int64_t i = 0; i < count; ++i) out[i] = table.e4m3[src[i]] * scale;
      return;
    }
    case WeightFormat::kFP8Block128: {
      const uint8_t* src = static_cast<const uint8_t*>(values.data) + expert * count;
      const int64_t block_rows = scales.shape[1];
      const int64_t block_cols = scales.shape[2];
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t block = 0; block < block_cols; ++block) {
          const float scale = read_scale(scales, (expert * block_rows + r / 128) * block_cols + block);
          const int64_t end = std::min(cols, (block + 1) * 128);
          for (int64_t c = block * 128; c < end; ++c) {
            out[r * cols + c] = table.e4m3[src[r * cols + c]] * scale;
          }
        }
      }
      return;
    }
    case WeightFormat::kMXFP4:
    case WeightFormat::kNVFP4: {
      const int64_t block = moe.weight_format == WeightFormat::kMXFP4 ? 32 : 16;
      const uint8_t* src = static_cast<const uint8_t*>(values.data) + expert * count / 2;
      const float global_scale =
          moe.weight_format == WeightFormat::kNVFP4 ? read_scale(global, expert) : 1.0f;
      for (int64_t first = 0; first < count; first += block) {
        const float scale = read_scale(scales, (expert * count + first) / block) * global_scale;
        for (int64_t i = first; i < first + block; i += 2) {
          const uint8_t byte = src[i / 2];
          out[i] = table.fp4_low[byte] * scale;
          out[i + 1] = table.fp4_high[byte] * scale;
        }
      }
      return;
    }
  }
}

}  // namespace fusedmoe::tools
