// fusedmoe entry points.
//
//  logits ─► route ─► topk ids/weights ─► dispatch ─► experts (GEMM1+act, GEMM2) ─► combine ─► out
//
//  * moe_fused:   logits in, output out (composition of every stage).
//  * moe_routed:  top-k ids + weights in (routing replay); bit-identical to moe_fused given the
//                 same ids and weights.
//  * moe_route, moe_dispatch, moe_experts, moe_combine: the stages on their own (modular use,
//                 expert parallelism behind an all-to-all).
//
// Every entry point validates all of its arguments before launching anything and throws
// fusedmoe::Error naming the argument, the expected and the given value. All tensors of one call
// live on one device: CPU tensors run the CPU reference (the oracle: double accumulation, the
// same rounding steps as the kernels), CUDA tensors run the sm_90a kernels. On CUDA: no host sync,
// no allocation, everything is enqueued on `stream`, and a call is capturable in a CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fusedmoe/config.h"
#include "fusedmoe/error.h"
#include "fusedmoe/types.h"
#include "fusedmoe/weights.h"

struct CUstream_st;

namespace fusedmoe {

// Same type as cudaStream_t; nullptr is the legacy default stream.
using Stream = CUstream_st*;

enum class Backend : int32_t {
  kCpuReference = 0,  // host tensors, double accumulation
  kCudaSm90 = 1,      // sm_90a kernels (H100 / H200)
};
const char* backend_name(Backend backend);

enum class CombineMode : int32_t {
  kDeterministic = 0,  // fixed slot order, bitwise reproducible run to run (default)
};

// Which sm90 kernel family computes the experts. kAuto chooses per call from the expected rows
// per expert (M * top_k / E_l, or the masked capacity): weight streaming for decode-sized
// batches, the grouped tile GEMM above that. The others force one, for tuning and A/B timing.
enum class ExpertKernel : int32_t {
  kAuto = 0,
  kWeightStreaming = 1,  // weights as the MMA's M, 8-64 tokens as N: bandwidth-bound decode
  kGroupedTile = 2,      // CUTLASS grouped GEMM (TMA + wgmma), tile by rows per expert: prefill
};
const char* expert_kernel_name(ExpertKernel kernel);

// How the fused and routed entry points bring each token's hidden row to its experts.
// kAuto: the expert kernel reads the rows of hidden_states by index (through the dispatch maps)
// where that measured faster — weight streaming; the grouped tile's GEMM1 with narrow experts
// (I <= 256) on an H100; router weight applied on the output — and a dispatch copy gathers them
// into a per-expert buffer otherwise (CUTLASS's TMA loads need one).
// kCopy: always copy first; kIndex: read by index wherever a kernel can (weight streaming, the
// 64x256 and 128x256 grouped tiles), copy elsewhere. Both for A/B timing and tests. Results are
// bitwise the same every way.
enum class TokenGather : int32_t {
  kAuto = 0,
  kCopy = 1,
  kIndex = 2,
};
const char* token_gather_name(TokenGather gather);

struct PlanOptions {
  Backend backend = Backend::kCudaSm90;
  // Largest token count M that run() will be given; sizes the workspace. Graph capture replays
  // any M <= max_num_tokens. moe_experts then accepts at most max_num_tokens * top_k +
  // E_l * 255 rows. >= 1 for kCudaSm90; 0 means no bound for kCpuReference.
  int32_t max_num_tokens = 0;
  CombineMode combine_mode = CombineMode::kDeterministic;
  // -1: the heuristic default tactic. >= 0 forces one, for tuning; it needs expert_kernel forced
  // too: kGroupedTile takes 0 = 64x128, 1 = 128x128, 2 = 256x128, 3 = 128x256, 4 = 64x256 tiles
  // (tokens x weight rows); kWeightStreaming takes 0..3 = token tiles of 8, 16, 32, 64. Anything
  // else is refused with kUnsupported.
  int32_t tactic = -1;
  // -1: GEMM2 runs on GEMM1's grouped tile (the default tactic's, or the forced one's). >= 0
  // forces GEMM2's tile on its own (0..4 as for tactic), for tuning: GEMM2 reduces over I, often
  // a few K steps per tile, where GEMM1 reduces over H. Needs expert_kernel kGroupedTile.
  int32_t gemm2_tactic = -1;
  ExpertKernel expert_kernel = ExpertKernel::kAuto;
  TokenGather token_gather = TokenGather::kAuto;
};

// A validated configuration with its workspace size. Make it once per layer shape; it is cheap to
// copy and holds no device memory.
struct MoePlan {
  MoeConfig moe;
  RoutingConfig routing;
  PlanOptions options;
  size_t workspace_bytes = 0;
};

struct Workspace {
  void* data = nullptr;
  size_t bytes = 0;
};

// Validates the configuration (throws fusedmoe::Error) and sizes the workspace. A plan is made
// whatever kernels the build has; each entry point throws ErrorKind::kUnsupported for what the
// backend cannot run (query_support says so beforehand).
MoePlan make_plan(const MoeConfig& moe, const RoutingConfig& routing, const PlanOptions& options);

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------
struct RoutingInputs {
  TensorView router_logits;       // [M, E] fp32 or bf16 (read natively)
  TensorView correction_bias;     // optional [E] fp32 or bf16: selection-only bias (DeepSeek-V3)
  TensorView logits_bias;         // optional [E] fp32 or bf16: added to the logits first (gpt-oss)
  TensorView routed_experts_out;  // optional [M, top_k] int16 or int32: capture of chosen ids
};

// topk_ids: int32 [M, top_k]; topk_weights: fp32 [M, top_k]. Ids within a row are distinct and in
// [0, E); NaN logits rank lowest, ties go to the lower expert id. Weights never include
// routed_scaling_factor.
void moe_route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
               TensorView topk_weights, Workspace workspace, Stream stream);

// ---------------------------------------------------------------------------------------------
// Fused and routed
// ---------------------------------------------------------------------------------------------
struct FusedInputs {
  TensorView hidden_states;  // [M, H] bf16 or fp16
  RoutingInputs routing;
  TensorView shared_output;  // optional [M, H], same dtype as output: added after scaling
};

struct RoutedInputs {
  TensorView hidden_states;  // [M, H] bf16 or fp16
  TensorView topk_ids;       // [M, top_k] int32 or int64, global ids; -1 = no expert
  TensorView topk_weights;   // [M, top_k] fp32 or bf16, used as given
  TensorView shared_output;  // optional [M, H]
};

// output: [M, H], dtype of hidden_states.
void moe_fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
               TensorView output, Workspace workspace, Stream stream);
void moe_routed(const MoePlan& plan, const RoutedInputs& inputs, const ExpertWeights& weights,
                TensorView output, Workspace workspace, Stream stream);

// ---------------------------------------------------------------------------------------------
// Modular: dispatch, expert compute, combine
// ---------------------------------------------------------------------------------------------
// Permutation maps of one dispatch. R = rows of the permuted buffer:
//   R >= M * top_k + E_l * (row_alignment - 1).
struct DispatchMaps {
  TensorView expert_offsets;  // int32 [E_l + 1]: rows of local expert e are [off[e], off[e+1])
                              // (off[e+1] - off[e] is the count rounded up to row_alignment)
  TensorView expert_counts;   // int32 [E_l]: real rows of each local expert
  TensorView row_to_slot;     // int32 [R]: permuted row -> token * top_k + slot, -1 for padding
                              // rows and the tail past off[E_l] (every row is written)
  TensorView slot_to_row;     // int32 [M, top_k]: (token, slot) -> permuted row, -1 if not local
};

// Builds the maps for `topk_ids` (int32/int64 [M, top_k], global ids). Rows are ordered by local
// expert, then token, then slot (stable, deterministic). Ids outside the local range and -1 are
// dropped. When permuted_hidden is given ([R, H], bf16/fp16 or e4m3), the rows of hidden_states
// are gathered into it (quantized per activation_quant, scales into permuted_hidden_scale:
// fp32 [R, ceil(H/128)] for kFP8Group128, [R] for kFP8PerToken; for kFP8PerTensor it is an input,
// the static scale fp32 [1]). Padding rows inside a segment are zero (scale 1 for dynamic FP8);
// rows past the last segment (>= expert_offsets[E_l]) of permuted_hidden and its scale are left
// untouched: moe_experts and moe_combine read only segment rows, and R is sized for the worst
// case, so at decode the tail is most of the buffer. row_alignment: a power of two in [1, 256].
void moe_dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
                  const DispatchMaps& maps, TensorView hidden_states, TensorView permuted_hidden,
                  TensorView permuted_hidden_scale, Workspace workspace, Stream stream);

enum class ExpertInputLayout : int32_t {
  kContiguous = 0,  // hidden_states [R, H], rows grouped by local expert (expert_offsets)
  kMasked = 1,      // hidden_states [E_l, capacity, H], expert_counts[e] valid rows each
};

struct ExpertsInputs {
  ExpertInputLayout layout = ExpertInputLayout::kContiguous;
  TensorView hidden_states;        // bf16/fp16, or e4m3 already quantized (then scale is needed)
  TensorView hidden_states_scale;  // fp32: [R|E_l*cap, ceil(H/128)] (group128) or [..] per token
                                   // (masked: also [E_l, cap, ..]); [1] static (fp8-per-tensor)
  TensorView expert_offsets;       // kContiguous: int32 [E_l + 1]
  TensorView expert_counts;        // kMasked: int32 [E_l]; kContiguous: optional int32 [E_l]
  TensorView row_weights;          // optional fp32 [R] or [E_l, capacity]: router weight per row,
                                   // applied in GEMM2's epilogue (absent: weight 1)
};

// expert_output: bf16/fp16 rows in the input's layout ([R, H] or [E_l, capacity, H]). Rows past a
// segment's count are left untouched.
void moe_experts(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
                 TensorView expert_output, Workspace workspace, Stream stream);

struct CombineInputs {
  TensorView expert_output;  // [R, H] bf16/fp16
  TensorView slot_to_row;    // int32 [M, top_k]; -1 = contributes nothing
  TensorView topk_weights;   // optional [M, top_k] fp32/bf16; absent: rows already weighted
  TensorView shared_output;  // optional [M, H]
};

// output[t] = routed_scaling_factor * sum_{slot in order} w[t, slot] * expert_output[row]
//             (+ shared_output[t]); fixed order, bitwise reproducible.
void moe_combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output,
                 Stream stream);

// ---------------------------------------------------------------------------------------------
// Weight preparation and capability
// ---------------------------------------------------------------------------------------------
// Converts checkpoint-layout weights into the backend's kernel layout in place, one expert at a
// time, using at most prepare_scratch_bytes() of scratch. Sets weights.layout.
size_t prepare_scratch_bytes(const MoeConfig& moe, Backend backend);
void prepare_weights(const MoeConfig& moe, Backend backend, ExpertWeights& weights,
                     Workspace scratch, Stream stream);

enum class EntryPoint : int32_t {
  kRoute = 0,
  kDispatch = 1,
  kExperts = 2,
  kCombine = 3,
  kFused = 4,
  kRouted = 5,
  kPrepare = 6,
};
const char* entry_point_name(EntryPoint entry);

struct Support {
  bool supported = false;
  std::string reason;  // empty when supported
};

// Whether `backend` can run `entry` for this configuration in this build, on this machine.
Support query_support(const MoeConfig& moe, const RoutingConfig& routing, Backend backend,
                      EntryPoint entry);

struct DeviceInfo {
  bool available = false;
  std::string name;
  int32_t compute_capability = 0;  // 90 for sm_90
  int32_t multiprocessor_count = 0;
  size_t global_memory_bytes = 0;
  std::string reason;  // why not available
};
// Describes CUDA device `index` (available = false with a reason when there is none).
DeviceInfo cuda_device_info(int index = 0);

const char* version();

}  // namespace fusedmoe
