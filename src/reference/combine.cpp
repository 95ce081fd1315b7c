// Combine reference: out[t] = round(rsf * sum over slots, in slot order, of w[t, slot] *
// expert_output[slot_to_row[t, slot]] + shared_output[t]). The routed_scaling_factor is applied
// here and nowhere else; a slot mapped to row -1 (dropped, or owned by another rank) adds nothing.
#include <string>
#include <vector>

#include "core/check.h"
#include "reference/reference.h"
#include "reference/tensor_access.h"

namespace fusedmoe::reference {

void combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output) {
  const int64_t num_tokens = inputs.slot_to_row.size(0);
  const int64_t top_k = inputs.slot_to_row.size(1);
  const int64_t hidden = output.size(1);
  const int64_t num_rows = inputs.expert_output.size(0);
  const double scaling = plan.routing.routed_scaling_factor;
  std::vector<int64_t> rows(top_k);
  std::vector<double> weights(top_k);
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t s = 0; s < top_k; ++s) {
      rows[s] = load_int_at(inputs.slot_to_row, {t, s});
      if (rows[s] >= num_rows) {
        detail::throw_invalid("slot_to_row", "rows in [-1, " + std::to_string(num_rows) + ")",
                              std::to_string(rows[s]) + " at token " + std::to_string(t));
      }
      // Absent weights: the rows were weighted in the experts' epilogue already.
      weights[s] = inputs.topk_weights.defined() ? load_at(inputs.topk_weights, {t, s}) : 1.0;
    }
    for (int64_t h = 0; h < hidden; ++h) {
      double routed = 0.0;
      for (int64_t s = 0; s < top_k; ++s) {
        if (rows[s] >= 0) routed += weights[s] * load_at(inputs.expert_output, {rows[s], h});
      }
      double value = scaling * routed;
      if (inputs.shared_output.defined()) value += load_at(inputs.shared_output, {t, h});
      store_at(output, {t, h}, value);
    }
  }
}

}  // namespace fusedmoe::reference
