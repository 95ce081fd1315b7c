// Dispatch reference: the permutation maps of one dispatch and, when asked, the permuted (and
// possibly FP8-quantized) copy of the hidden states.
//
// Rows are ordered by local expert, then token, then slot. Each expert's segment is its count
// rounded up to row_alignment; padding rows map to slot -1 and hold zeros and (FP8) scale 1. The
// tail of the buffer past the last segment maps to slot -1 too, but its permuted rows and scales
// are left as they are: nothing reads them, and the GPU saves the zero fill (the buffer is sized
// for the worst case, so at decode the tail is nearly all of it).
#include <string>
#include <vector>

#include "core/check.h"
#include "reference/activation_quant.h"
#include "reference/reference.h"
#include "reference/tensor_access.h"

namespace fusedmoe::reference {
namespace {

// Writes permuted row `row` of permuted_hidden from token `token` (token < 0: a padding row).
void write_permuted_row(const MoePlan& plan, TensorView hidden_states, TensorView permuted_hidden,
                        TensorView permuted_hidden_scale, int64_t row, int64_t token) {
  const int64_t hidden = permuted_hidden.size(1);
  std::vector<float> values(hidden, 0.0f);
  if (token >= 0) {
    for (int64_t h = 0; h < hidden; ++h) values[h] = static_cast<float>(load_at(hidden_states, {token, h}));
  }
  if (permuted_hidden.dtype != DType::kFloat8E4M3) {
    for (int64_t h = 0; h < hidden; ++h) store_at(permuted_hidden, {row, h}, values[h]);
    return;
  }
  const ActivationQuant quant = plan.moe.activation_quant;
  const bool static_scale = quant == ActivationQuant::kFP8PerTensor;
  if (!permuted_hidden_scale.defined()) {
    detail::throw_invalid("permuted_hidden_scale", "a scale tensor for e4m3 permuted_hidden", "none");
  }
  const float scale = static_scale ? static_cast<float>(load(permuted_hidden_scale, 0)) : 1.0f;
  const Fp8Row quantized =
      quantize_activation_row(values.data(), hidden, quant, plan.moe.activation_scale_format, scale);
  for (int64_t h = 0; h < hidden; ++h) {
    store_raw<uint8_t>(permuted_hidden, element_offset(permuted_hidden, {row, h}), quantized.codes[h]);
  }
  if (static_scale) return;  // the static scale is an input
  for (size_t g = 0; g < quantized.scales.size(); ++g) {
    const int64_t offset = quant == ActivationQuant::kFP8Group128
                               ? element_offset(permuted_hidden_scale, {row, static_cast<int64_t>(g)})
                               : element_offset(permuted_hidden_scale, {row});
    store(permuted_hidden_scale, offset, quantized.scales[g]);
  }
}

}  // namespace

void dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
              const DispatchMaps& maps, TensorView hidden_states, TensorView permuted_hidden,
              TensorView permuted_hidden_scale) {
  const int64_t num_tokens = topk_ids.size(0);
  const int64_t top_k = topk_ids.size(1);
  const int64_t first_expert = plan.moe.local_expert_offset;
  const int64_t local_experts = plan.moe.local_experts();
  const int64_t num_rows = maps.row_to_slot.size(0);

  // Local expert of each slot, -1 when the slot is dropped (id -1 or owned by another rank).
  std::vector<int64_t> slot_expert(num_tokens * top_k, -1);
  std::vector<int64_t> counts(local_experts, 0);
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t s = 0; s < top_k; ++s) {
      const int64_t local = load_int_at(topk_ids, {t, s}) - first_expert;
      if (local < 0 || local >= local_experts) continue;
      slot_expert[t * top_k + s] = local;
      ++counts[local];
    }
  }

  std::vector<int64_t> offsets(local_experts + 1, 0);
  for (int64_t e = 0; e < local_experts; ++e) {
    const int64_t padded = (counts[e] + row_alignment - 1) / row_alignment * row_alignment;
    offsets[e + 1] = offsets[e] + padded;
  }
  if (offsets[local_experts] > num_rows) {
    detail::throw_invalid("maps.row_to_slot", "at least " + std::to_string(offsets[local_experts]) + " rows",
                          std::to_string(num_rows) + " rows");
  }
  for (int64_t e = 0; e <= local_experts; ++e) {
    store_int_at(maps.expert_offsets, {e}, offsets[e]);
    if (e < local_experts) store_int_at(maps.expert_counts, {e}, counts[e]);
  }

  std::vector<int64_t> row_slot(num_rows, -1);
  std::vector<int64_t> next_row(offsets.begin(), offsets.end() - 1);
  for (int64_t slot = 0; slot < num_tokens * top_k; ++slot) {
    const int64_t local = slot_expert[slot];
    const int64_t row = local < 0 ? -1 : next_row[local]++;
    if (row >= 0) row_slot[row] = slot;
    store_int_at(maps.slot_to_row, {slot / top_k, slot % top_k}, row);
  }
  for (int64_t row = 0; row < num_rows; ++row) store_int_at(maps.row_to_slot, {row}, row_slot[row]);

  if (!permuted_hidden.defined()) return;
  const int64_t segment_rows = offsets[local_experts];
  if (permuted_hidden.size(0) < segment_rows) {
    detail::throw_invalid("permuted_hidden", "at least " + std::to_string(segment_rows) + " rows",
                          std::to_string(permuted_hidden.size(0)) + " rows");
  }
  for (int64_t row = 0; row < segment_rows; ++row) {
    const int64_t token = row_slot[row] >= 0 ? row_slot[row] / top_k : -1;
    write_permuted_row(plan, hidden_states, permuted_hidden, permuted_hidden_scale, row, token);
  }
}

}  // namespace fusedmoe::reference
