// The entry points of include/fusedmoe/moe.h over Python tensors. Every tensor argument is a
// DLPack-capable array, a tuple (array, DType), or None when optional (tensor_views.h); outputs
// are given by the caller (the fusedmoe package allocates them). `stream` is a cudaStream_t as an
// integer (torch: torch.cuda.current_stream().cuda_stream), 0 for the legacy default stream.
// The GIL is released while the library runs: the caller's references keep the tensors alive.
// Every argument is required (tensors may be None where absent): the package supplies defaults.
#include <cstdint>

#include "bindings.h"
#include "tensor_views.h"

namespace fusedmoe::python {
namespace {

Stream as_stream(uintptr_t stream) { return reinterpret_cast<Stream>(stream); }

Workspace workspace_of(ViewScope& scope, nb::handle obj, const char* name) {
  const TensorView view = scope.out(obj, name);
  if (!view.defined()) return Workspace{};
  if (!view.is_contiguous()) {
    throw Error(ErrorKind::kInvalidArgument, std::string("fusedmoe: argument '") + name +
                                                 "': expected a contiguous buffer, got " +
                                                 view.describe());
  }
  return Workspace{view.data, static_cast<size_t>(view.numel()) * dtype_size(view.dtype)};
}

// `weights` is any object with the attributes of fusedmoe.ExpertWeights (w13, w2, ..., layout).
ExpertWeights weights_of(ViewScope& scope, nb::handle weights, bool writable) {
  ExpertWeights result;
  if (weights.is_none()) return result;
  auto field = [&](const char* attribute, const char* name) {
    nb::object value = nb::getattr(weights, attribute, nb::none());
    return writable ? scope.out(value, name) : scope.in(value, name);
  };
  result.w13 = field("w13", "weights.w13");
  result.w2 = field("w2", "weights.w2");
  result.w13_scale = field("w13_scale", "weights.w13_scale");
  result.w2_scale = field("w2_scale", "weights.w2_scale");
  result.w13_global_scale = field("w13_global_scale", "weights.w13_global_scale");
  result.w2_global_scale = field("w2_global_scale", "weights.w2_global_scale");
  result.w13_bias = field("w13_bias", "weights.w13_bias");
  result.w2_bias = field("w2_bias", "weights.w2_bias");
  result.a1_scale = field("a1_scale", "weights.a1_scale");
  result.a2_scale = field("a2_scale", "weights.a2_scale");
  result.layout = nb::cast<WeightLayout>(nb::getattr(weights, "layout"));
  return result;
}

}  // namespace

void bind_entry_points(nb::module_& m) {
  m.def(
      "route",
      [](const MoePlan& plan, nb::handle router_logits, nb::handle correction_bias,
         nb::handle logits_bias, nb::handle routed_experts_out, nb::handle topk_ids,
         nb::handle topk_weights, nb::handle workspace, uintptr_t stream) {
        ViewScope scope;
        RoutingInputs inputs;
        inputs.router_logits = scope.in(router_logits, "router_logits");
        inputs.correction_bias = scope.in(correction_bias, "correction_bias");
        inputs.logits_bias = scope.in(logits_bias, "logits_bias");
        inputs.routed_experts_out = scope.out(routed_experts_out, "routed_experts_out");
        const TensorView ids = scope.out(topk_ids, "topk_ids");
        const TensorView weights = scope.out(topk_weights, "topk_weights");
        const Workspace ws = workspace_of(scope, workspace, "workspace");
        nb::gil_scoped_release release;
        moe_route(plan, inputs, ids, weights, ws, as_stream(stream));
      },
      nb::arg("plan"), nb::arg("router_logits").none(), nb::arg("correction_bias").none(),
      nb::arg("logits_bias").none(), nb::arg("routed_experts_out").none(),
      nb::arg("topk_ids").none(), nb::arg("topk_weights").none(), nb::arg("workspace").none(),
      nb::arg("stream"));

  m.def(
      "dispatch",
      [](const MoePlan& plan, nb::handle topk_ids, int32_t row_alignment, nb::handle expert_offsets,
         nb::handle expert_counts, nb::handle row_to_slot, nb::handle slot_to_row,
         nb::handle hidden_states, nb::handle permuted_hidden, nb::handle permuted_hidden_scale,
         nb::handle workspace, uintptr_t stream) {
        ViewScope scope;
        const TensorView ids = scope.in(topk_ids, "topk_ids");
        DispatchMaps maps;
        maps.expert_offsets = scope.out(expert_offsets, "expert_offsets");
        maps.expert_counts = scope.out(expert_counts, "expert_counts");
        maps.row_to_slot = scope.out(row_to_slot, "row_to_slot");
        maps.slot_to_row = scope.out(slot_to_row, "slot_to_row");
        const TensorView hidden = scope.in(hidden_states, "hidden_states");
        const TensorView permuted = scope.out(permuted_hidden, "permuted_hidden");
        const TensorView permuted_scale = scope.out(permuted_hidden_scale, "permuted_hidden_scale");
        const Workspace ws = workspace_of(scope, workspace, "workspace");
        nb::gil_scoped_release release;
        moe_dispatch(plan, ids, row_alignment, maps, hidden, permuted, permuted_scale, ws,
                     as_stream(stream));
      },
      nb::arg("plan"), nb::arg("topk_ids").none(), nb::arg("row_alignment"),
      nb::arg("expert_offsets").none(), nb::arg("expert_counts").none(),
      nb::arg("row_to_slot").none(), nb::arg("slot_to_row").none(), nb::arg("hidden_states").none(),
      nb::arg("permuted_hidden").none(), nb::arg("permuted_hidden_scale").none(),
      nb::arg("workspace").none(), nb::arg("stream"));

  m.def(
      "experts",
      [](const MoePlan& plan, ExpertInputLayout layout, nb::handle hidden_states,
         nb::handle hidden_states_scale, nb::handle expert_offsets, nb::handle expert_counts,
         nb::handle row_weights, nb::handle weights, nb::handle expert_output, nb::handle workspace,
         uintptr_t stream) {
        ViewScope scope;
        ExpertsInputs inputs;
        inputs.layout = layout;
        inputs.hidden_states = scope.in(hidden_states, "hidden_states");
        inputs.hidden_states_scale = scope.in(hidden_states_scale, "hidden_states_scale");
        inputs.expert_offsets = scope.in(expert_offsets, "expert_offsets");
        inputs.expert_counts = scope.in(expert_counts, "expert_counts");
        inputs.row_weights = scope.in(row_weights, "row_weights");
        const ExpertWeights w = weights_of(scope, weights, false);
        const TensorView out = scope.out(expert_output, "expert_output");
        const Workspace ws = workspace_of(scope, workspace, "workspace");
        nb::gil_scoped_release release;
        moe_experts(plan, inputs, w, out, ws, as_stream(stream));
      },
      nb::arg("plan"), nb::arg("layout"), nb::arg("hidden_states").none(),
      nb::arg("hidden_states_scale").none(), nb::arg("expert_offsets").none(),
      nb::arg("expert_counts").none(), nb::arg("row_weights").none(), nb::arg("weights").none(),
      nb::arg("expert_output").none(), nb::arg("workspace").none(), nb::arg("stream"));

  m.def(
      "combine",
      [](const MoePlan& plan, nb::handle expert_output, nb::handle slot_to_row,
         nb::handle topk_weights, nb::handle shared_output, nb::handle output, uintptr_t stream) {
        ViewScope scope;
        CombineInputs inputs;
        inputs.expert_output = scope.in(expert_output, "expert_output");
        inputs.slot_to_row = scope.in(slot_to_row, "slot_to_row");
        inputs.topk_weights = scope.in(topk_weights, "topk_weights");
        inputs.shared_output = scope.in(shared_output, "shared_output");
        const TensorView out = scope.out(output, "output");
        nb::gil_scoped_release release;
        moe_combine(plan, inputs, out, as_stream(stream));
      },
      nb::arg("plan"), nb::arg("expert_output").none(), nb::arg("slot_to_row").none(),
      nb::arg("topk_weights").none(), nb::arg("shared_output").none(), nb::arg("output").none(),
      nb::arg("stream"));

  m.def(
      "fused",
      [](const MoePlan& plan, nb::handle hidden_states, nb::handle router_logits,
         nb::handle correction_bias, nb::handle logits_bias, nb::handle routed_experts_out,
         nb::handle shared_output, nb::handle weights, nb::handle output, nb::handle workspace,
         uintptr_t stream) {
        ViewScope scope;
        FusedInputs inputs;
        inputs.hidden_states = scope.in(hidden_states, "hidden_states");
        inputs.routing.router_logits = scope.in(router_logits, "router_logits");
        inputs.routing.correction_bias = scope.in(correction_bias, "correction_bias");
        inputs.routing.logits_bias = scope.in(logits_bias, "logits_bias");
        inputs.routing.routed_experts_out = scope.out(routed_experts_out, "routed_experts_out");
        inputs.shared_output = scope.in(shared_output, "shared_output");
        const ExpertWeights w = weights_of(scope, weights, false);
        const TensorView out = scope.out(output, "output");
        const Workspace ws = workspace_of(scope, workspace, "workspace");
        nb::gil_scoped_release release;
        moe_fused(plan, inputs, w, out, ws, as_stream(stream));
      },
      nb::arg("plan"), nb::arg("hidden_states").none(), nb::arg("router_logits").none(),
      nb::arg("correction_bias").none(), nb::arg("logits_bias").none(),
      nb::arg("routed_experts_out").none(), nb::arg("shared_output").none(),
      nb::arg("weights").none(), nb::arg("output").none(), nb::arg("workspace").none(),
      nb::arg("stream"));

  m.def(
      "routed",
      [](const MoePlan& plan, nb::handle hidden_states, nb::handle topk_ids,
         nb::handle topk_weights, nb::handle shared_output, nb::handle weights, nb::handle output,
         nb::handle workspace, uintptr_t stream) {
        ViewScope scope;
        RoutedInputs inputs;
        inputs.hidden_states = scope.in(hidden_states, "hidden_states");
        inputs.topk_ids = scope.in(topk_ids, "topk_ids");
        inputs.topk_weights = scope.in(topk_weights, "topk_weights");
        inputs.shared_output = scope.in(shared_output, "shared_output");
        const ExpertWeights w = weights_of(scope, weights, false);
        const TensorView out = scope.out(output, "output");
        const Workspace ws = workspace_of(scope, workspace, "workspace");
        nb::gil_scoped_release release;
        moe_routed(plan, inputs, w, out, ws, as_stream(stream));
      },
      nb::arg("plan"), nb::arg("hidden_states").none(), nb::arg("topk_ids").none(),
      nb::arg("topk_weights").none(), nb::arg("shared_output").none(), nb::arg("weights").none(),
      nb::arg("output").none(), nb::arg("workspace").none(), nb::arg("stream"));

  m.def(
      "prepare_weights",
      [](const MoeConfig& moe, Backend backend, nb::handle weights, nb::handle scratch,
         uintptr_t stream) {
        ViewScope scope;
        ExpertWeights w = weights_of(scope, weights, true);
        const Workspace ws = workspace_of(scope, scratch, "scratch");
        {
          nb::gil_scoped_release release;
          prepare_weights(moe, backend, w, ws, as_stream(stream));
        }
        return w.layout;
      },
      nb::arg("moe"), nb::arg("backend"), nb::arg("weights").none(), nb::arg("scratch").none(),
      nb::arg("stream"),
      "Converts the weights in place; returns the WeightLayout they are in now.");
}

}  // namespace fusedmoe::python
