// route -> dispatch -> combine captured in a CUDA graph, replayed on new inputs, compared bitwise
// with an eager run on the same inputs; with identity experts (combine reads the permuted hidden
// rows back), so the output is also checked against rsf * (sum of the token's local weights) * x.
// Covers the single-tile (M = 64) and multi-tile (M = 1000, workspace) dispatch paths and EP.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/limits.h"
#include "gpu/gpu_test_common.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

struct PipelineCase {
  std::string name;
  int32_t tokens;
  int32_t local_offset;
  int32_t local_experts;
  int32_t row_alignment;
};

class Pipeline {
 public:
  Pipeline(const PipelineCase& c, cudaStream_t stream) : c_(c), stream_(stream) {
    MoeConfig moe;
    moe.hidden_size = 1024;
    moe.intermediate_size = 256;
    moe.num_experts = 256;
    moe.top_k = 8;
    moe.local_expert_offset = c.local_offset;
    moe.num_local_experts = c.local_experts;
    RoutingConfig routing;
    routing.method = RoutingMethod::kSigmoidGroupedTopK;
    routing.n_group = 8;
    routing.topk_group = 4;
    routing.renormalize = true;
    routing.routed_scaling_factor = 2.5f;
    plan_ = stage_plan(moe, routing, c.tokens);
    M_ = c.tokens;
    E_ = moe.num_experts;
    k_ = moe.top_k;
    H_ = moe.hidden_size;
    E_l_ = moe.local_experts();
    R_ = detail::max_dispatch_rows(moe, M_, c.row_alignment);
    logits_ = DeviceBuffer(M_ * E_ * 4);
    bias_ = DeviceBuffer(E_ * 4);
    hidden_ = DeviceBuffer(M_ * H_ * 2);
    ids_ = DeviceBuffer(M_ * k_ * 4);
    weights_ = DeviceBuffer(M_ * k_ * 4);
    offsets_ = DeviceBuffer((E_l_ + 1) * 4);
    counts_ = DeviceBuffer(E_l_ * 4);
    row_to_slot_ = DeviceBuffer(R_ * 4);
    slot_to_row_ = DeviceBuffer(M_ * k_ * 4);
    permuted_ = DeviceBuffer(R_ * H_ * 2);
    output_ = DeviceBuffer(M_ * H_ * 2);
    workspace_ = DeviceBuffer(std::max<size_t>(plan_.workspace_bytes, 16));
  }

  void set_inputs(uint64_t seed) {
    std::mt19937_64 rng(seed);
    logits_values_ = random_normal(rng, M_ * E_, 2.0f);
    bias_.upload(random_normal(rng, E_, 0.05f));
    logits_.upload(logits_values_);
    hidden_values_ = random_normal(rng, M_ * H_, 1.0f);
    hidden_.upload(encode_floats(hidden_values_, DType::kBFloat16));
    // cudaMemcpy from pageable memory may return before its DMA lands, and the legacy stream
    // does not order the non-blocking stream the pipeline runs on: wait for it.
    cuda_or_throw(cudaDeviceSynchronize(), "upload inputs");
  }

  void poison_outputs() {
    for (DeviceBuffer* b : {&ids_, &weights_, &offsets_, &counts_, &row_to_slot_, &slot_to_row_,
                            &permuted_, &output_}) {
      b->poison(0xab);
    }
    // cudaMemset is asynchronous on the legacy stream, unordered with the pipeline's stream.
    cuda_or_throw(cudaDeviceSynchronize(), "poison outputs");
  }

  void enqueue() {
    RoutingInputs routing;
    routing.router_logits = logits_.view(DType::kFloat32, {M_, E_});
    routing.correction_bias = bias_.view(DType::kFloat32, {E_});
    const Workspace ws{workspace_.data(), workspace_.bytes()};
    moe_route(plan_, routing, ids_.view(DType::kInt32, {M_, k_}),
              weights_.view(DType::kFloat32, {M_, k_}), ws, stream_);
    DispatchMaps maps;
    maps.expert_offsets = offsets_.view(DType::kInt32, {E_l_ + 1});
    maps.expert_counts = counts_.view(DType::kInt32, {E_l_});
    maps.row_to_slot = row_to_slot_.view(DType::kInt32, {R_});
    maps.slot_to_row = slot_to_row_.view(DType::kInt32, {M_, k_});
    moe_dispatch(plan_, ids_.view(DType::kInt32, {M_, k_}), c_.row_alignment, maps,
                 hidden_.view(DType::kBFloat16, {M_, H_}), permuted_.view(DType::kBFloat16, {R_, H_}),
                 TensorView{}, ws, stream_);
    CombineInputs combine;
    combine.expert_output = permuted_.view(DType::kBFloat16, {R_, H_});
    combine.slot_to_row = slot_to_row_.view(DType::kInt32, {M_, k_});
    combine.topk_weights = weights_.view(DType::kFloat32, {M_, k_});
    moe_combine(plan_, combine, output_.view(DType::kBFloat16, {M_, H_}), stream_);
  }

  struct Snapshot {
    std::vector<uint8_t> ids, weights, offsets, row_to_slot, slot_to_row, permuted, output;
    bool operator==(const Snapshot& o) const {
      return ids == o.ids && weights == o.weights && offsets == o.offsets &&
             row_to_slot == o.row_to_slot && slot_to_row == o.slot_to_row &&
             permuted == o.permuted && output == o.output;
    }
    // Which buffers differ, and the first differing byte of each (for the failure message).
    std::string differences(const Snapshot& o) const {
      std::string text;
      auto compare = [&](const char* name, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
        if (a == b) return;
        size_t first = 0;
        while (first < a.size() && first < b.size() && a[first] == b[first]) ++first;
        size_t count = 0;
        for (size_t i = 0; i < a.size() && i < b.size(); ++i) count += a[i] != b[i];
        text += std::string(" ") + name + ": " + std::to_string(count) + " bytes differ, first at byte " +
                std::to_string(first) + ";";
      };
      compare("ids", ids, o.ids);
      compare("weights", weights, o.weights);
      compare("offsets", offsets, o.offsets);
      compare("row_to_slot", row_to_slot, o.row_to_slot);
      compare("slot_to_row", slot_to_row, o.slot_to_row);
      compare("permuted", permuted, o.permuted);
      compare("output", output, o.output);
      return text;
    }
  };

  Snapshot snapshot() const {
    cuda_or_throw(cudaStreamSynchronize(stream_), "pipeline");
    Snapshot s;
    s.ids = ids_.download_all<uint8_t>();
    s.weights = weights_.download_all<uint8_t>();
    s.offsets = offsets_.download_all<uint8_t>();
    s.row_to_slot = row_to_slot_.download_all<uint8_t>();
    s.slot_to_row = slot_to_row_.download_all<uint8_t>();
    s.permuted = permuted_.download_all<uint8_t>();
    s.output = output_.download_all<uint8_t>();
    return s;
  }

  // Identity experts: out[t] = rsf * (sum of the weights of t's local slots) * x[t], up to the
  // bf16 rounding of the permuted copy (exact) and of the output.
  void check_identity_output(const Snapshot& s) const {
    const int32_t* ids = reinterpret_cast<const int32_t*>(s.ids.data());
    const float* weights = reinterpret_cast<const float*>(s.weights.data());
    int failures = 0;
    for (int64_t t = 0; t < M_ && failures < 5; ++t) {
      double local_weight = 0.0;
      for (int64_t slot = 0; slot < k_; ++slot) {
        const int64_t local = ids[t * k_ + slot] - c_.local_offset;
        if (local >= 0 && local < E_l_) local_weight += weights[t * k_ + slot];
      }
      for (int64_t h = 0; h < H_; ++h) {
        const float x = decode_float(encode_floats({hidden_values_[t * H_ + h]}, DType::kBFloat16).data(),
                                     DType::kBFloat16, 0);
        const double want = plan_.routing.routed_scaling_factor * local_weight * x;
        const float got = decode_float(s.output.data(), DType::kBFloat16, t * H_ + h);
        if (!(std::fabs(got - want) <= 1e-2 * std::fabs(want) + 1e-6)) {
          ADD_FAILURE() << c_.name << ": token " << t << " column " << h << " = " << got
                        << ", identity experts give " << want;
          ++failures;
          break;
        }
      }
    }
  }

 private:
  PipelineCase c_;
  cudaStream_t stream_;
  MoePlan plan_;
  int64_t M_ = 0, E_ = 0, k_ = 0, H_ = 0, E_l_ = 0, R_ = 0;
  std::vector<float> logits_values_, hidden_values_;
  DeviceBuffer logits_, bias_, hidden_, ids_, weights_, offsets_, counts_, row_to_slot_,
      slot_to_row_, permuted_, output_, workspace_;
};

class PipelineGraph : public ::testing::TestWithParam<PipelineCase> {};

TEST_P(PipelineGraph, ReplayOnNewInputsMatchesEager) {
  FUSEDMOE_REQUIRE_SM90();
  const PipelineCase& c = GetParam();
  const uint64_t seed = case_seed(c.name);
  cudaStream_t stream = nullptr;
  cuda_or_throw(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  {
    Pipeline pipeline(c, stream);
    pipeline.set_inputs(seed);
    pipeline.enqueue();  // eager warm-up: device checks are cached before capture
    pipeline.snapshot();

    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    cuda_or_throw(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
    pipeline.enqueue();
    cuda_or_throw(cudaStreamEndCapture(stream, &graph), "end capture");
    cuda_or_throw(cudaGraphInstantiate(&exec, graph, 0), "instantiate");

    for (uint64_t replay = 1; replay <= 2; ++replay) {
      pipeline.set_inputs(seed + replay);
      pipeline.poison_outputs();
      cuda_or_throw(cudaGraphLaunch(exec, stream), "graph launch");
      const Pipeline::Snapshot replayed = pipeline.snapshot();
      pipeline.poison_outputs();
      pipeline.enqueue();
      const Pipeline::Snapshot eager = pipeline.snapshot();
      EXPECT_TRUE(replayed == eager) << c.name << ": graph replay " << replay << " differs from eager:"
                                     << replayed.differences(eager);
      pipeline.check_identity_output(eager);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
  cudaStreamDestroy(stream);
}

INSTANTIATE_TEST_SUITE_P(Cases, PipelineGraph,
                         ::testing::Values(PipelineCase{"single_tile_M64", 64, 0, 0, 16},
                                           PipelineCase{"multi_tile_M1000_ep", 1000, 96, 64, 32},
                                           PipelineCase{"decode_M1_align128", 1, 0, 0, 128}),
                         [](const ::testing::TestParamInfo<PipelineCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace fusedmoe::testing
