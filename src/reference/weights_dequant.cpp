// Exact dequantization of expert weights (checkpoint layout) to double, per fusedmoe/weights.h:
//   kBF16          w
//   kFP8PerTensor  e4m3(q) * scale[e]
//   kFP8Block128   e4m3(q) * scale[e, n / 128, k / 128]          (scale fp32 or ue8m0)
//   kMXFP4         e2m1(q) * 2^(scale[e, n, k / 32] - 127)       (low nibble = even k)
//   kNVFP4         e2m1(q) * e4m3(scale[e, n, k / 16]) * global[e]
// Every product is exact in double (at most 4 + 4 + 24 significant bits).
#include "reference/weights_dequant.h"

#include "core/check.h"
#include "core/host_numerics.h"
#include "reference/tensor_access.h"

namespace fusedmoe::reference {
namespace {

// Scale bytes may come typed (ue8m0 / e4m3) or as raw uint8; `byte_format` says how to read a byte.
double load_scale(const TensorView& view, int64_t offset, DType byte_format) {
  if (view.dtype != DType::kUInt8) return load(view, offset);
  const uint8_t byte = load_byte(view, offset);
  return byte_format == DType::kUE8M0 ? numerics::ue8m0_to_float(byte) : numerics::e4m3_bits_to_float(byte);
}

}  // namespace

DenseMatrix dequantize_expert_matrix(WeightFormat format, const ExpertWeights& weights,
                                     WhichMatrix which, int64_t local_expert, int64_t cols) {
  if (weights.layout != WeightLayout::kCheckpoint) {
    detail::throw_invalid("weights.layout", "kCheckpoint for the CPU reference", "a prepared layout");
  }
  const bool w13 = which == WhichMatrix::kW13;
  const TensorView& matrix = w13 ? weights.w13 : weights.w2;
  const TensorView& scale = w13 ? weights.w13_scale : weights.w2_scale;
  const TensorView& global_scale = w13 ? weights.w13_global_scale : weights.w2_global_scale;
  const int64_t e = local_expert;

  DenseMatrix dense;
  dense.rows = matrix.size(1);
  dense.cols = cols;
  dense.values.resize(static_cast<size_t>(dense.rows * dense.cols));
  const int64_t k_stride = matrix.strides[2];
  for (int64_t n = 0; n < dense.rows; ++n) {
    double* out = dense.values.data() + n * cols;
    const int64_t row_base = element_offset(matrix, {e, n, 0});
    switch (format) {
      case WeightFormat::kBF16:
        for (int64_t k = 0; k < cols; ++k) out[k] = load(matrix, row_base + k * k_stride);
        break;
      case WeightFormat::kFP8PerTensor: {
        const double tensor_scale = per_expert_scalar(scale, e);
        for (int64_t k = 0; k < cols; ++k) out[k] = load(matrix, row_base + k * k_stride) * tensor_scale;
        break;
      }
      case WeightFormat::kFP8Block128:
        for (int64_t k = 0; k < cols; ++k) {
          const double block_scale = load_scale(scale, element_offset(scale, {e, n / 128, k / 128}), DType::kUE8M0);
          out[k] = load(matrix, row_base + k * k_stride) * block_scale;
        }
        break;
      case WeightFormat::kMXFP4:
        for (int64_t k = 0; k < cols; ++k) {
          const uint8_t packed = load_byte(matrix, row_base + (k / 2) * k_stride);
          const double block_scale = load_scale(scale, element_offset(scale, {e, n, k / 32}), DType::kUE8M0);
          out[k] = numerics::fp4x2_element(packed, static_cast<int>(k % 2)) * block_scale;
        }
        break;
      case WeightFormat::kNVFP4: {
        const double global = per_expert_scalar(global_scale, e);
        for (int64_t k = 0; k < cols; ++k) {
          const uint8_t packed = load_byte(matrix, row_base + (k / 2) * k_stride);
          const double block_scale =
              load_scale(scale, element_offset(scale, {e, n, k / 16}), DType::kFloat8E4M3);
          out[k] = numerics::fp4x2_element(packed, static_cast<int>(k % 2)) * block_scale * global;
        }
        break;
      }
    }
  }
  return dense;
}

}  // namespace fusedmoe::reference
