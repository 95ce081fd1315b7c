// FP8 activation quantization of one row (see activation_quant.h); dynamic scales come from
// quantize_fp8_groups so activations and the published quantizer cannot drift apart.
#include "reference/activation_quant.h"

#include "core/host_numerics.h"
#include "fusedmoe/error.h"
#include "reference/quantize.h"

namespace fusedmoe::reference {

namespace {
constexpr int64_t kActivationGroup = 128;
}  // namespace

double Fp8Row::value(int64_t column) const {
  return static_cast<double>(numerics::e4m3_bits_to_float(codes[column])) * scales[column / group];
}

Fp8Row quantize_activation_row(const float* row, int64_t columns, ActivationQuant quant,
                               ScaleFormat scale_format, float static_scale) {
  Fp8Row result;
  result.codes.resize(columns);
  switch (quant) {
    case ActivationQuant::kFP8PerTensor:
      result.group = columns;
      result.scales.assign(1, static_scale);
      for (int64_t c = 0; c < columns; ++c) {
        result.codes[c] = numerics::float_to_e4m3_bits(row[c] / static_scale);
      }
      return result;
    case ActivationQuant::kFP8PerToken:
    case ActivationQuant::kFP8Group128:
      result.group = quant == ActivationQuant::kFP8Group128 ? kActivationGroup : columns;
      result.scales.resize((columns + result.group - 1) / result.group);
      quantize_fp8_groups(row, 1, columns, result.group, result.codes.data(), result.scales.data(),
                          scale_format);
      return result;
    case ActivationQuant::kNone: break;
  }
  throw Error(ErrorKind::kInternal,
              "fusedmoe: reference: FP8 activation quantization asked for activation_quant none");
}

std::vector<double> fake_quantize_activation_row(const std::vector<float>& row, ActivationQuant quant,
                                                 ScaleFormat scale_format, float static_scale) {
  const int64_t columns = static_cast<int64_t>(row.size());
  const Fp8Row quantized = quantize_activation_row(row.data(), columns, quant, scale_format, static_scale);
  std::vector<double> values(columns);
  for (int64_t c = 0; c < columns; ++c) values[c] = quantized.value(c);
  return values;
}

}  // namespace fusedmoe::reference
