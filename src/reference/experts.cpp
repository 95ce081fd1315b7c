// Expert compute reference: for every local expert and every valid row of its segment,
//   x̂ = GEMM1 input (dequantized FP8 input, or the bf16/fp16 row, FP8-quantized per activation_quant)
//   h = x̂ · W13ᵀ + b13            (double accumulation; rounded to the output dtype when
//                                   activation_quant is none: the bf16 kernels store GEMM1's
//                                   result in bf16 before the activation)
//   a = act(gate, up) or act(h)   (double)
//   â = a rounded to the output dtype (activation_quant none) or FP8-quantized from its fp32 value
//   y = â · W2ᵀ + b2, rounded to the output dtype (via fp32); with a row weight w the stored row
//       is round(w · y) (the kernels scale the stored bf16 row)
// Rows past a segment's count are not written. docs/NUMERICS.md ("Experts") is the long form.
//
// An expert's rows run on several threads (each row's arithmetic is its own and writes only its
// own output row, so the result does not depend on the thread count): the GPU tests compare
// against this reference at hundreds of rows and wait for it on the device's clock.
#include <string>
#include <vector>

#include "core/check.h"
#include "core/parallel_for.h"
#include "reference/activation.h"
#include "reference/activation_quant.h"
#include "reference/reference.h"
#include "reference/tensor_access.h"
#include "reference/weights_dequant.h"

namespace fusedmoe::reference {
namespace {

// One row of the expert buffers, in either input layout.
struct RowRef {
  int64_t expert = 0;  // local expert
  int64_t index = 0;   // contiguous: row in [0, R); masked: position in [0, capacity)
  int64_t flat = 0;    // contiguous: index; masked: expert * capacity + index
};

class RowAddressing {
 public:
  RowAddressing(const ExpertsInputs& inputs, int64_t hidden)
      : masked_(inputs.layout == ExpertInputLayout::kMasked),
        capacity_(masked_ ? inputs.hidden_states.size(1) : 0),
        total_rows_(masked_ ? inputs.hidden_states.size(0) * capacity_ : inputs.hidden_states.size(0)),
        hidden_(hidden) {}

  RowRef row(int64_t expert, int64_t index) const {
    return RowRef{expert, index, masked_ ? expert * capacity_ + index : index};
  }

  // Offset of element h of a row in a [R, H] or [E_l, capacity, H] view.
  int64_t element(const TensorView& view, const RowRef& row, int64_t h) const {
    return masked_ ? element_offset(view, {row.expert, row.index, h}) : element_offset(view, {row.index, h});
  }

  // Offset of a per-row value in a [R] / [E_l * capacity] or [E_l, capacity] view.
  int64_t per_row(const TensorView& view, const RowRef& row) const {
    return view.ndim == 2 && masked_ ? element_offset(view, {row.expert, row.index})
                                     : element_offset(view, {row.flat});
  }

  // Scale of column h of an FP8 input row; the scale tensor's shape says its granularity:
  // one value, one per row, or one per row and 128-column group.
  double input_scale(const TensorView& scale, const RowRef& row, int64_t h) const {
    const int64_t groups = (hidden_ + 127) / 128;
    if (scale.numel() == 1) return load(scale, 0);
    if (scale.numel() == total_rows_ * groups && scale.size(-1) == groups) {
      return scale.ndim == 3 ? load_at(scale, {row.expert, row.index, h / 128})
                             : load_at(scale, {row.flat, h / 128});
    }
    if (scale.numel() == total_rows_) return load(scale, per_row(scale, row));
    detail::throw_invalid("hidden_states_scale", "[1], one value per row or per row and 128 columns",
                          detail::shape_string(scale));
  }

  bool masked() const { return masked_; }
  int64_t capacity() const { return capacity_; }
  int64_t total_rows() const { return total_rows_; }

 private:
  bool masked_;
  int64_t capacity_;
  int64_t total_rows_;
  int64_t hidden_;
};

// The valid rows of each local expert: [begin, begin + count).
struct Segment {
  int64_t begin = 0;
  int64_t count = 0;
};

std::vector<Segment> expert_segments(const ExpertsInputs& inputs, const RowAddressing& rows,
                                     int64_t local_experts) {
  std::vector<Segment> segments(local_experts);
  for (int64_t e = 0; e < local_experts; ++e) {
    if (rows.masked()) {
      const int64_t count = load_int_at(inputs.expert_counts, {e});
      if (count < 0 || count > rows.capacity()) {
        detail::throw_invalid("expert_counts", "counts in [0, " + std::to_string(rows.capacity()) + "]",
                              std::to_string(count) + " for local expert " + std::to_string(e));
      }
      segments[e] = Segment{0, count};
      continue;
    }
    const int64_t begin = load_int_at(inputs.expert_offsets, {e});
    const int64_t end = load_int_at(inputs.expert_offsets, {e + 1});
    if (begin < 0 || end < begin || end > rows.total_rows()) {
      detail::throw_invalid("expert_offsets", "non-decreasing offsets within [0, " +
                                                  std::to_string(rows.total_rows()) + "]",
                            "[" + std::to_string(begin) + ", " + std::to_string(end) +
                                ") for local expert " + std::to_string(e));
    }
    int64_t count = end - begin;
    if (inputs.expert_counts.defined()) {
      count = load_int_at(inputs.expert_counts, {e});
      if (count < 0 || count > end - begin) {
        detail::throw_invalid("expert_counts", "counts within each expert's offset range",
                              std::to_string(count) + " for local expert " + std::to_string(e));
      }
    }
    segments[e] = Segment{begin, count};
  }
  return segments;
}

std::vector<double> dot_rows(const DenseMatrix& matrix, const std::vector<double>& x) {
  std::vector<double> y(matrix.rows, 0.0);
  for (int64_t n = 0; n < matrix.rows; ++n) {
    const double* w = matrix.row(n);
    double sum = 0.0;
    for (int64_t k = 0; k < matrix.cols; ++k) sum += w[k] * x[k];
    y[n] = sum;
  }
  return y;
}

void add_bias(std::vector<double>& values, const TensorView& bias, int64_t expert) {
  if (!bias.defined()) return;
  for (size_t n = 0; n < values.size(); ++n) values[n] += load_at(bias, {expert, static_cast<int64_t>(n)});
}

// Gate and up halves of GEMM1's output row, per the checkpoint's row order.
void split_gate_up(const std::vector<double>& h, GateUpLayout layout, int64_t j, int64_t inter,
                   double& gate, double& up) {
  switch (layout) {
    case GateUpLayout::kGateThenUp: gate = h[j]; up = h[inter + j]; return;
    case GateUpLayout::kUpThenGate: up = h[j]; gate = h[inter + j]; return;
    case GateUpLayout::kInterleaved: gate = h[2 * j]; up = h[2 * j + 1]; return;
  }
}

class ExpertRunner {
 public:
  ExpertRunner(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
               TensorView output)
      : moe_(plan.moe), inputs_(inputs), weights_(weights), output_(output),
        hidden_(plan.moe.hidden_size), inter_(plan.moe.intermediate_size),
        rows_(inputs, plan.moe.hidden_size) {}

  void run() {
    const int64_t local_experts = moe_.local_experts();
    const std::vector<Segment> segments = expert_segments(inputs_, rows_, local_experts);
    for (int64_t e = 0; e < local_experts; ++e) {
      if (segments[e].count == 0) continue;
      const DenseMatrix w13 = dequantize_expert_matrix(moe_.weight_format, weights_, WhichMatrix::kW13, e, hidden_);
      const DenseMatrix w2 = dequantize_expert_matrix(moe_.weight_format, weights_, WhichMatrix::kW2, e, inter_);
      const Segment segment = segments[e];
      // Fewer than 4 rows per thread: a thread costs more than it saves.
      detail::parallel_for(segment.count, 4,
                           [&](int64_t, int64_t i) { run_row(e, rows_.row(e, segment.begin + i), w13, w2); });
    }
  }

 private:
  std::vector<double> gemm1_input(const RowRef& row, int64_t expert) const {
    const TensorView& x = inputs_.hidden_states;
    if (x.dtype == DType::kFloat8E4M3) {
      std::vector<double> values(hidden_);
      // Without hidden_states_scale, e4m3 rows carry the static a1_scale (kFP8PerTensor).
      const bool static_input = !inputs_.hidden_states_scale.defined();
      if (static_input && !weights_.a1_scale.defined()) {
        detail::throw_invalid("hidden_states_scale", "a scale for e4m3 hidden_states (or weights.a1_scale)",
                              "none");
      }
      const double a1 = static_input ? per_expert_scalar(weights_.a1_scale, expert) : 0.0;
      for (int64_t h = 0; h < hidden_; ++h) {
        const double scale = static_input ? a1 : rows_.input_scale(inputs_.hidden_states_scale, row, h);
        values[h] = load(x, rows_.element(x, row, h)) * scale;
      }
      return values;
    }
    std::vector<float> values(hidden_);
    for (int64_t h = 0; h < hidden_; ++h) values[h] = static_cast<float>(load(x, rows_.element(x, row, h)));
    if (moe_.activation_quant == ActivationQuant::kNone) return std::vector<double>(values.begin(), values.end());
    return fake_quantize_activation_row(values, moe_.activation_quant, moe_.activation_scale_format,
                                        static_scale(weights_.a1_scale, expert));
  }

  std::vector<double> activate(const std::vector<double>& h) const {
    std::vector<double> a(inter_);
    const bool gated = activation_is_gated(moe_.activation);
    for (int64_t j = 0; j < inter_; ++j) {
      if (!gated) {
        a[j] = plain_activation(moe_.activation, h[j]);
        continue;
      }
      double gate = 0.0;
      double up = 0.0;
      split_gate_up(h, moe_.gate_up_layout, j, inter_, gate, up);
      a[j] = gated_activation(moe_.activation, moe_.activation_params, gate, up);
    }
    return a;
  }

  // GEMM2's input: the activation rounded to the output dtype, or FP8-quantized from fp32.
  std::vector<double> gemm2_input(const std::vector<double>& a, int64_t expert) const {
    std::vector<double> rounded(inter_);
    if (moe_.activation_quant == ActivationQuant::kNone) {
      for (int64_t j = 0; j < inter_; ++j) rounded[j] = round_to_dtype(a[j], output_.dtype);
      return rounded;
    }
    const std::vector<float> as_float(a.begin(), a.end());
    return fake_quantize_activation_row(as_float, moe_.activation_quant, moe_.activation_scale_format,
                                        static_scale(weights_.a2_scale, expert));
  }

  float static_scale(const TensorView& scale, int64_t expert) const {
    if (moe_.activation_quant != ActivationQuant::kFP8PerTensor) return 1.0f;
    return static_cast<float>(per_expert_scalar(scale, expert));
  }

  void run_row(int64_t expert, const RowRef& row, const DenseMatrix& w13, const DenseMatrix& w2) const {
    std::vector<double> h = dot_rows(w13, gemm1_input(row, expert));
    add_bias(h, weights_.w13_bias, expert);
    if (moe_.activation_quant == ActivationQuant::kNone) {
      for (double& value : h) value = round_to_dtype(value, output_.dtype);
    }
    std::vector<double> y = dot_rows(w2, gemm2_input(activate(h), expert));
    add_bias(y, weights_.w2_bias, expert);
    const bool weighted = inputs_.row_weights.defined();
    const double weight = weighted ? load(inputs_.row_weights, rows_.per_row(inputs_.row_weights, row)) : 1.0;
    for (int64_t n = 0; n < hidden_; ++n) {
      const double stored = weighted ? weight * round_to_dtype(y[n], output_.dtype) : y[n];
      store(output_, rows_.element(output_, row, n), stored);
    }
  }

  const MoeConfig& moe_;
  const ExpertsInputs& inputs_;
  const ExpertWeights& weights_;
  TensorView output_;
  int64_t hidden_;
  int64_t inter_;
  RowAddressing rows_;
};

}  // namespace

void experts(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
             TensorView expert_output) {
  ExpertRunner(plan, inputs, weights, expert_output).run();
}

}  // namespace fusedmoe::reference
