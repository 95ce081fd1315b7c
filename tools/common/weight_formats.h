// The weight formats the tool offers, by command-line name, and how each one sets up a layer:
//   bf16       bf16 weights, bf16 activations
//   fp8        e4m3 weights with one scale per expert matrix; activations e4m3 with static
//              per-tensor scales a1/a2 (calibrated from the layer's own data)
//   fp8-block  e4m3 weights with 128x128 block scales; activations e4m3 per 1x128 group (DeepSeek-V3)
//   mxfp4      e2m1 weights, ue8m0 scale per 32 values; bf16 activations (W4A16)
//   nvfp4      e2m1 weights, e4m3 scale per 16 values + fp32 global; bf16 activations (W4A16)
#pragma once

#include <string>
#include <vector>

#include "fusedmoe/config.h"

namespace fusedmoe::tools {

// One line for reports: "e4m3 weights with 128x128 block scales; activations e4m3 per 1x128 group".
std::string weight_format_description(WeightFormat format);

// Throws UsageError listing the known names.
WeightFormat parse_weight_format(const std::string& name);
std::vector<std::string> weight_format_names();

// The activation quantization the tool pairs with each weight format (table above).
ActivationQuant activation_quant_for(WeightFormat format);

// True when activations enter the GEMMs as fp8 (the roofline then uses the fp8 matrix rate).
bool uses_fp8_matrix_rate(WeightFormat format);

// Sets moe.weight_format and its activation quantization. Throws UsageError when the layer's
// K dimensions do not fit the format's block (fp4 needs H and I multiples of 32 / 16), saying
// the size a checkpoint would be zero-padded to.
void apply_weight_format(MoeConfig& moe, WeightFormat format);

}  // namespace fusedmoe::tools
