"""How a serving engine swaps fusedmoe in for its MoE layer: a sketch that runs.

Three ways an engine calls a MoE layer, each shown with fusedmoe:
  1. fused    - the engine hands over router logits; fusedmoe routes (DeepSeek-V3 style here:
                sigmoid + correction bias + groups, routed_scaling_factor applied once).
  2. routed   - the engine runs its own router (or replays recorded routing) and hands over
                global top-k ids and weights.
  3. EP shard - expert parallelism: this rank holds experts [offset, offset + E_local); ids of
                other ranks' experts add nothing here, and the all-to-all sums the ranks.
Plus the FlashInfer route: an engine whose runner calls flashinfer's trtllm_*_moe keeps its call
sites and imports fusedmoe.compat.flashinfer instead (weights converted once at load time).

Runs on the GPU when fusedmoe's CUDA backend can, else on the CPU reference:
    python examples/serving_swap_in.py
"""

import torch

import fusedmoe
import fusedmoe.compat.flashinfer as trtllm

H, I, E, TOP_K, TOKENS = 256, 128, 16, 4, 8
DEVICE = "cuda" if torch.cuda.is_available() and fusedmoe.cuda_device_info().available else "cpu"


def checkpoint_weights(experts=E, seed=0):
    """What the engine loaded: w13 [E, 2I, H], gate rows then up rows (HF / vLLM); w2 [E, H, I]."""
    g = torch.Generator().manual_seed(seed)
    w13 = (torch.randn(experts, 2 * I, H, generator=g) / H ** 0.5).to(torch.bfloat16)
    w2 = (torch.randn(experts, H, I, generator=g) / I ** 0.5).to(torch.bfloat16)
    return w13.to(DEVICE), w2.to(DEVICE)


class FusedMoEMethod:
    """What an engine's "MoE method" object becomes: built once at load time, called per step."""

    def __init__(self, w13, w2, *, correction_bias=None, local_offset=0, num_local=0,
                 max_num_tokens=8192):
        moe = fusedmoe.MoeConfig(hidden_size=H, intermediate_size=I, num_experts=E, top_k=TOP_K,
                                 local_expert_offset=local_offset, num_local_experts=num_local)
        routing = fusedmoe.RoutingConfig(method=fusedmoe.RoutingMethod.SIGMOID_GROUPED_TOPK,
                                         n_group=4, topk_group=2, routed_scaling_factor=2.5)
        # Weights are converted to the kernel layout here, once, in place.
        self.layer = fusedmoe.MoELayer(moe, fusedmoe.ExpertWeights(w13=w13, w2=w2), routing,
                                       correction_bias=correction_bias,
                                       max_num_tokens=max_num_tokens)

    def apply(self, hidden_states, router_logits, shared_output=None):
        # shared_output (the shared expert's result) is added after routed_scaling_factor.
        return self.layer.forward(hidden_states, router_logits, shared_output=shared_output)

    def apply_routed(self, hidden_states, topk_ids, topk_weights):
        # The weights are used as given and the layer's routed_scaling_factor is applied once,
        # in combine, as for fused. An engine whose router already folds the factor into its
        # weights makes the layer with routed_scaling_factor=1.0.
        return self.layer.forward_routed(hidden_states, topk_ids, topk_weights)


def main():
    torch.manual_seed(0)
    x = torch.randn(TOKENS, H, device=DEVICE).to(torch.bfloat16)
    logits = torch.randn(TOKENS, E, device=DEVICE)
    bias = torch.randn(E, device=DEVICE) * 0.1
    w13, w2 = checkpoint_weights()
    print(f"device: {DEVICE} ({fusedmoe.cuda_device_info()})")

    # 1. fused: logits in.
    method = FusedMoEMethod(w13.clone(), w2.clone(), correction_bias=bias)
    fused = method.apply(x, logits)
    print("fused   ", tuple(fused.shape), fused.dtype)

    # 2. routed: the engine's own router; here it replays fusedmoe's routing (weights without
    #    the factor, as routing returns them).
    ids, weights = method.layer.route(logits)
    routed = method.apply_routed(x, ids, weights)
    print("routed  ", "max |routed - fused| =", (routed.float() - fused.float()).abs().max().item())

    # 3. expert parallelism: two ranks of 8 experts each, ids stay global. Summing the ranks'
    #    outputs (what the combine all-to-all does) gives the unsharded layer.
    shards = [FusedMoEMethod(w13[r * 8:(r + 1) * 8].clone(), w2[r * 8:(r + 1) * 8].clone(),
                             correction_bias=bias, local_offset=r * 8, num_local=8)
              for r in range(2)]
    summed = sum(shard.apply_routed(x, ids, weights).float() for shard in shards)
    print("EP x2   ", "max |sum of ranks - fused| =", (summed - fused.float()).abs().max().item())

    # FlashInfer's runner, unchanged call: GEMM1 rows are [up; gate] in FlashInfer's convention,
    # so the engine's own w3/w1 swap stays; fusedmoe's prepare replaces FlashInfer's shuffle.
    up_gate = torch.cat([w13[:, I:], w13[:, :I]], dim=1).contiguous()
    g1, g2 = trtllm.prepare_weights(up_gate, w2.clone(), weight_layout=trtllm.WeightLayout.MajorK)
    out = trtllm.trtllm_bf16_moe(
        routing_logits=logits, routing_bias=bias, hidden_states=x, gemm1_weights=g1,
        gemm2_weights=g2, num_experts=E, top_k=TOP_K, n_group=4, topk_group=2,
        intermediate_size=I, local_expert_offset=0, local_num_experts=E,
        routed_scaling_factor=2.5, routing_method_type=trtllm.RoutingMethodType.DeepSeekV3)
    print("flashinfer-compatible", "max |out - fused| =",
          (out.float() - fused.float()).abs().max().item())


if __name__ == "__main__":
    main()
