// Enums, configuration structs, plans and capability queries (include/fusedmoe/config.h, moe.h).
// Python names: enums in UPPER_SNAKE (RoutingMethod.SIGMOID_GROUPED_TOPK), struct fields as in C++.
#include <nanobind/stl/string.h>

#include "bindings.h"
#include "struct_binding.h"

namespace fusedmoe::python {

void bind_enums(nb::module_& m) {
  nb::enum_<DType>(m, "DType", "Element types (types.h). Packed fp4 counts one element per byte.")
      .value("FLOAT32", DType::kFloat32)
      .value("BFLOAT16", DType::kBFloat16)
      .value("FLOAT16", DType::kFloat16)
      .value("FLOAT8_E4M3", DType::kFloat8E4M3)
      .value("FLOAT4_E2M1X2", DType::kFloat4E2M1x2)
      .value("UE8M0", DType::kUE8M0)
      .value("INT16", DType::kInt16)
      .value("INT32", DType::kInt32)
      .value("INT64", DType::kInt64)
      .value("UINT8", DType::kUInt8);

  nb::enum_<ErrorKind>(m, "ErrorKind")
      .value("INVALID_ARGUMENT", ErrorKind::kInvalidArgument)
      .value("UNSUPPORTED", ErrorKind::kUnsupported)
      .value("CUDA", ErrorKind::kCuda)
      .value("INTERNAL", ErrorKind::kInternal);

  nb::enum_<RoutingMethod>(m, "RoutingMethod", "Fused routing methods (config.h documents each).")
      .value("SOFTMAX_TOPK", RoutingMethod::kSoftmaxTopK)
      .value("TOPK_SOFTMAX", RoutingMethod::kTopKSoftmax)
      .value("SIGMOID_GROUPED_TOPK", RoutingMethod::kSigmoidGroupedTopK)
      .value("LLAMA4_TOP1_SIGMOID", RoutingMethod::kLlama4Top1Sigmoid)
      .value("SIGMOID_TOPK", RoutingMethod::kSigmoidTopK);

  nb::enum_<Activation>(m, "Activation")
      .value("SWIGLU", Activation::kSwiGLU)
      .value("SWIGLU_OAI", Activation::kSwiGLUOAI)
      .value("GEGLU_TANH", Activation::kGeGLUTanh)
      .value("RELU2", Activation::kReLU2)
      .value("SILU", Activation::kSiLU)
      .value("GELU_TANH", Activation::kGeLUTanh);

  nb::enum_<GateUpLayout>(m, "GateUpLayout", "Row order of a gated w13 [E, 2I, H].")
      .value("GATE_THEN_UP", GateUpLayout::kGateThenUp)
      .value("UP_THEN_GATE", GateUpLayout::kUpThenGate)
      .value("INTERLEAVED", GateUpLayout::kInterleaved);

  nb::enum_<WeightFormat>(m, "WeightFormat")
      .value("BF16", WeightFormat::kBF16)
      .value("FP8_PER_TENSOR", WeightFormat::kFP8PerTensor)
      .value("FP8_BLOCK128", WeightFormat::kFP8Block128)
      .value("MXFP4", WeightFormat::kMXFP4)
      .value("NVFP4", WeightFormat::kNVFP4);

  nb::enum_<ActivationQuant>(m, "ActivationQuant")
      .value("NONE", ActivationQuant::kNone)
      .value("FP8_PER_TENSOR", ActivationQuant::kFP8PerTensor)
      .value("FP8_PER_TOKEN", ActivationQuant::kFP8PerToken)
      .value("FP8_GROUP128", ActivationQuant::kFP8Group128);

  nb::enum_<ScaleFormat>(m, "ScaleFormat")
      .value("FLOAT32", ScaleFormat::kFloat32)
      .value("UE8M0", ScaleFormat::kUE8M0);

  nb::enum_<RouterWeightApply>(m, "RouterWeightApply")
      .value("ON_OUTPUT", RouterWeightApply::kOnOutput)
      .value("ON_INPUT", RouterWeightApply::kOnInput);

  nb::enum_<Backend>(m, "Backend")
      .value("CPU_REFERENCE", Backend::kCpuReference)
      .value("CUDA_SM90", Backend::kCudaSm90);

  nb::enum_<CombineMode>(m, "CombineMode").value("DETERMINISTIC", CombineMode::kDeterministic);
  nb::enum_<ExpertKernel>(m, "ExpertKernel")
      .value("AUTO", ExpertKernel::kAuto)
      .value("WEIGHT_STREAMING", ExpertKernel::kWeightStreaming)
      .value("GROUPED_TILE", ExpertKernel::kGroupedTile);
  nb::enum_<TokenGather>(m, "TokenGather")
      .value("AUTO", TokenGather::kAuto)
      .value("COPY", TokenGather::kCopy)
      .value("INDEX", TokenGather::kIndex);

  nb::enum_<ExpertInputLayout>(m, "ExpertInputLayout")
      .value("CONTIGUOUS", ExpertInputLayout::kContiguous)
      .value("MASKED", ExpertInputLayout::kMasked);

  nb::enum_<EntryPoint>(m, "EntryPoint")
      .value("ROUTE", EntryPoint::kRoute)
      .value("DISPATCH", EntryPoint::kDispatch)
      .value("EXPERTS", EntryPoint::kExperts)
      .value("COMBINE", EntryPoint::kCombine)
      .value("FUSED", EntryPoint::kFused)
      .value("ROUTED", EntryPoint::kRouted)
      .value("PREPARE", EntryPoint::kPrepare);

  nb::enum_<WeightLayout>(m, "WeightLayout")
      .value("CHECKPOINT", WeightLayout::kCheckpoint)
      .value("SM90_PREPARED", WeightLayout::kSm90Prepared);

  m.attr("MAX_TOP_K") = kMaxTopK;
  m.attr("MAX_EXPERTS") = kMaxExperts;
  m.attr("MAX_TENSOR_DIMS") = kMaxTensorDims;
}

void bind_configs(nb::module_& m) {
  StructBinding<ActivationParams>(m, "ActivationParams", "SwiGLU-OAI / clamp parameters.")
      .field("alpha", &ActivationParams::alpha, "SWIGLU_OAI sigmoid slope (gpt-oss: 1.702)")
      .field("beta", &ActivationParams::beta, "SWIGLU_OAI offset added to up (gpt-oss: 1.0)")
      .field("clamp_limit", &ActivationParams::clamp_limit, "clamp limit; inf disables it")
      .done();

  StructBinding<RoutingConfig>(m, "RoutingConfig", "How fused routing picks and weighs experts.")
      .field("method", &RoutingConfig::method, "RoutingMethod")
      .field("renormalize", &RoutingConfig::renormalize, "renormalize top-k weights to sum 1")
      .field("n_group", &RoutingConfig::n_group, "expert groups (SIGMOID_GROUPED_TOPK)")
      .field("topk_group", &RoutingConfig::topk_group, "groups kept (SIGMOID_GROUPED_TOPK)")
      .field("routed_scaling_factor", &RoutingConfig::routed_scaling_factor,
             "applied exactly once, in combine; never folded into routing weights")
      .done();

  StructBinding<MoeConfig>(m, "MoeConfig", "Shape, format and activation of one MoE layer.")
      .field("hidden_size", &MoeConfig::hidden_size, "H")
      .field("intermediate_size", &MoeConfig::intermediate_size, "I, one expert after TP slicing")
      .field("num_experts", &MoeConfig::num_experts, "E, global routed experts")
      .field("top_k", &MoeConfig::top_k, "slots per token, 1..32")
      .field("local_expert_offset", &MoeConfig::local_expert_offset, "first local (global) id")
      .field("num_local_experts", &MoeConfig::num_local_experts, "0 means E - offset")
      .field("activation", &MoeConfig::activation, "Activation")
      .field("activation_params", &MoeConfig::activation_params, "ActivationParams")
      .field("gate_up_layout", &MoeConfig::gate_up_layout, "GateUpLayout of gated w13 rows")
      .field("weight_format", &MoeConfig::weight_format, "WeightFormat")
      .field("activation_quant", &MoeConfig::activation_quant, "ActivationQuant")
      .field("activation_scale_format", &MoeConfig::activation_scale_format, "ScaleFormat")
      .field("router_weight_apply", &MoeConfig::router_weight_apply, "RouterWeightApply")
      .done()
      .def("local_experts", &MoeConfig::local_experts, "E_l: experts this rank computes");

  StructBinding<PlanOptions>(m, "PlanOptions", "Backend and sizing of a plan.")
      .field("backend", &PlanOptions::backend, "Backend")
      .field("max_num_tokens", &PlanOptions::max_num_tokens, "largest M run() will see")
      .field("combine_mode", &PlanOptions::combine_mode, "CombineMode")
      .field("tactic", &PlanOptions::tactic, "-1: heuristic default")
      .field("gemm2_tactic", &PlanOptions::gemm2_tactic, "-1: GEMM2 on GEMM1's grouped tile")
      .field("expert_kernel", &PlanOptions::expert_kernel, "ExpertKernel: AUTO picks per call")
      .field("token_gather", &PlanOptions::token_gather,
             "TokenGather: AUTO reads token rows by index where measured faster; COPY, INDEX force")
      .done();

  nb::class_<MoePlan>(m, "MoePlan", "A validated configuration with its workspace size.")
      .def_ro("moe", &MoePlan::moe)
      .def_ro("routing", &MoePlan::routing)
      .def_ro("options", &MoePlan::options)
      .def_ro("workspace_bytes", &MoePlan::workspace_bytes)
      .def("__repr__", [](const MoePlan& plan) {
        return "MoePlan(workspace_bytes=" + std::to_string(plan.workspace_bytes) +
               ", moe=" + std::string(nb::repr(nb::cast(plan.moe)).c_str()) +
               ", routing=" + std::string(nb::repr(nb::cast(plan.routing)).c_str()) +
               ", options=" + std::string(nb::repr(nb::cast(plan.options)).c_str()) + ")";
      });

  m.def("make_plan", &make_plan, nb::arg("moe"), nb::arg("routing"), nb::arg("options"),
        "Validates the configuration and sizes the workspace (raises FusedMoeError).");

  nb::class_<Support>(m, "Support")
      .def_ro("supported", &Support::supported)
      .def_ro("reason", &Support::reason)
      .def("__bool__", [](const Support& s) { return s.supported; })
      .def("__repr__", [](const Support& s) {
        return s.supported ? std::string("Support(supported=True)")
                           : "Support(supported=False, reason=" +
                                 std::string(nb::repr(nb::str(s.reason.c_str())).c_str()) + ")";
      });
  m.def("query_support", &query_support, nb::arg("moe"), nb::arg("routing"), nb::arg("backend"),
        nb::arg("entry"), "Whether `backend` can run `entry` for this configuration, and why not.");

  nb::class_<DeviceInfo>(m, "DeviceInfo")
      .def_ro("available", &DeviceInfo::available)
      .def_ro("name", &DeviceInfo::name)
      .def_ro("compute_capability", &DeviceInfo::compute_capability)
      .def_ro("multiprocessor_count", &DeviceInfo::multiprocessor_count)
      .def_ro("global_memory_bytes", &DeviceInfo::global_memory_bytes)
      .def_ro("reason", &DeviceInfo::reason)
      .def("__repr__", [](const DeviceInfo& d) {
        return d.available
                   ? "DeviceInfo(" + d.name + ", sm_" + std::to_string(d.compute_capability) + ")"
                   : "DeviceInfo(available=False, reason=" + d.reason + ")";
      });
  m.def("cuda_device_info", &cuda_device_info, nb::arg("index") = 0);

  m.def("activation_is_gated", &activation_is_gated, nb::arg("activation"));
  m.def("prepare_scratch_bytes", &prepare_scratch_bytes, nb::arg("moe"), nb::arg("backend"));
  m.def("version", &version);
}

}  // namespace fusedmoe::python
