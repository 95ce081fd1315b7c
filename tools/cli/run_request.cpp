#include "cli/run_request.h"

#include "cli/options.h"
#include "common/tool_error.h"
#include "common/weight_formats.h"

namespace fusedmoe::cli {

namespace {

tools::DeviceRequest parse_device(const std::string& name) {
  if (name == "auto") return tools::DeviceRequest::kAuto;
  if (name == "cpu") return tools::DeviceRequest::kCpu;
  if (name == "cuda") return tools::DeviceRequest::kCuda;
  throw tools::UsageError("--device '" + name + "': expected auto|cpu|cuda");
}

LogitsDType parse_logits(const std::string& name) {
  if (name == "fp32") return LogitsDType::kFloat32;
  if (name == "bf16") return LogitsDType::kBFloat16;
  throw tools::UsageError("--logits '" + name + "': expected fp32|bf16");
}

}  // namespace

RunRequest parse_run_request(const std::vector<std::string>& args) {
  const Options options(args,
                        {"model", "tokens", "format", "device", "seed", "tp", "ep", "ep-rank",
                         "logits", "iterations"},
                        {"all-experts"});
  RunRequest request;
  const tools::ModelPreset& preset = tools::find_preset(options.required("model"));
  request.tokens = static_cast<int32_t>(options.get_int("tokens", 0, 1, 1 << 20));
  if (!options.has("tokens")) throw tools::UsageError("missing --tokens");
  request.format = tools::parse_weight_format(options.required("format"));
  request.device = parse_device(options.get("device", "auto"));
  request.seed = options.get_seed("seed");
  request.logits_dtype = parse_logits(options.get("logits", "fp32"));
  request.all_experts = options.has("all-experts");
  request.iterations = static_cast<int32_t>(options.get_int("iterations", 20, 1, 100000));

  tools::Parallelism parallelism;
  parallelism.tp = static_cast<int32_t>(options.get_int("tp", 1, 1, 1024));
  parallelism.ep = static_cast<int32_t>(options.get_int("ep", 1, 1, 1024));
  parallelism.ep_rank = static_cast<int32_t>(options.get_int("ep-rank", 0, 0, 1023));
  request.spec = tools::slice_preset(preset, parallelism);
  tools::apply_weight_format(request.spec.moe, request.format);
  return request;
}

}  // namespace fusedmoe::cli
