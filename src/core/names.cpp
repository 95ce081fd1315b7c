// Printable names of the public enums (errors, the tool, the capability query).
#include "fusedmoe/moe.h"

namespace fusedmoe {

const char* routing_method_name(RoutingMethod method) {
  switch (method) {
    case RoutingMethod::kSoftmaxTopK: return "softmax_topk";
    case RoutingMethod::kTopKSoftmax: return "topk_softmax";
    case RoutingMethod::kSigmoidGroupedTopK: return "sigmoid_grouped_topk";
    case RoutingMethod::kLlama4Top1Sigmoid: return "llama4_top1_sigmoid";
    case RoutingMethod::kSigmoidTopK: return "sigmoid_topk";
  }
  return "unknown-routing-method";
}

bool activation_is_gated(Activation activation) {
  switch (activation) {
    case Activation::kSwiGLU:
    case Activation::kSwiGLUOAI:
    case Activation::kGeGLUTanh: return true;
    case Activation::kReLU2:
    case Activation::kSiLU:
    case Activation::kGeLUTanh: return false;
  }
  return false;
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::kSwiGLU: return "swiglu";
    case Activation::kSwiGLUOAI: return "swiglu_oai";
    case Activation::kGeGLUTanh: return "geglu_tanh";
    case Activation::kReLU2: return "relu2";
    case Activation::kSiLU: return "silu";
    case Activation::kGeLUTanh: return "gelu_tanh";
  }
  return "unknown-activation";
}

const char* weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kBF16: return "bf16";
    case WeightFormat::kFP8PerTensor: return "fp8";
    case WeightFormat::kFP8Block128: return "fp8-block";
    case WeightFormat::kMXFP4: return "mxfp4";
    case WeightFormat::kNVFP4: return "nvfp4";
  }
  return "unknown-weight-format";
}

const char* activation_quant_name(ActivationQuant quant) {
  switch (quant) {
    case ActivationQuant::kNone: return "none";
    case ActivationQuant::kFP8PerTensor: return "fp8-per-tensor";
    case ActivationQuant::kFP8PerToken: return "fp8-per-token";
    case ActivationQuant::kFP8Group128: return "fp8-group128";
  }
  return "unknown-activation-quant";
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kCpuReference: return "cpu-reference";
    case Backend::kCudaSm90: return "cuda-sm90";
  }
  return "unknown-backend";
}

const char* expert_kernel_name(ExpertKernel kernel) {
  switch (kernel) {
    case ExpertKernel::kAuto: return "auto";
    case ExpertKernel::kWeightStreaming: return "weight-streaming";
    case ExpertKernel::kGroupedTile: return "grouped-tile";
  }
  return "unknown-expert-kernel";
}

const char* token_gather_name(TokenGather gather) {
  switch (gather) {
    case TokenGather::kAuto: return "auto";
    case TokenGather::kCopy: return "copy";
    case TokenGather::kIndex: return "index";
  }
  return "unknown-token-gather";
}

const char* entry_point_name(EntryPoint entry) {
  switch (entry) {
    case EntryPoint::kRoute: return "route";
    case EntryPoint::kDispatch: return "dispatch";
    case EntryPoint::kExperts: return "experts";
    case EntryPoint::kCombine: return "combine";
    case EntryPoint::kFused: return "fused";
    case EntryPoint::kRouted: return "routed";
    case EntryPoint::kPrepare: return "prepare";
  }
  return "unknown-entry-point";
}

}  // namespace fusedmoe
