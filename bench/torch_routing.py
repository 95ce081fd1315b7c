"""The torch peer of fusedmoe_bench_routing: the same stages written the way serving engines do in
plain torch (softmax / sigmoid + topk, DeepSeek's grouped top-k, a stable argsort for the
permutation, index gather, weighted sum), timed the same way (CUDA graph of `unroll` copies,
median over replays of CUDA-event time / unroll), for DeepSeek-V3 and Qwen3-30B-A3B at
M = 1, 64, 4096, 16384.

    python3 bench/torch_routing.py [--csv PATH] [--replays N]

Stages:
  route            logits -> ids, weights
  route+maps       + per-expert counts (scatter_add), offsets padded to 16, slot_to_row via a
                   stable argsort (the same maps fusedmoe builds)
  route+dispatch   + gather of the hidden rows in permuted order (bf16), or 1x128-group FP8
                   quantization of them (DeepSeek-V3)
  combine          y[slot_to_row] * w summed over the k slots in fp32, x rsf, to bf16
"""

import argparse
import csv
import statistics

import torch

ALIGNMENT = 16


def deepseek_route(logits, bias, n_group, topk_group, k):
    scores = logits.float().sigmoid()
    choice = scores + bias
    tokens, experts = choice.shape
    group_scores = choice.view(tokens, n_group, experts // n_group).topk(2, dim=-1).values.sum(-1)
    kept = group_scores.topk(topk_group, dim=-1, sorted=False).indices
    mask = torch.zeros_like(group_scores).scatter_(1, kept, 1.0)
    mask = mask.unsqueeze(-1).expand(tokens, n_group, experts // n_group).reshape(tokens, experts)
    choice = choice.masked_fill(mask == 0, float("-inf"))
    ids = choice.topk(k, dim=-1, sorted=False).indices
    weights = scores.gather(1, ids)
    weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
    return ids.to(torch.int32), weights


def softmax_route(logits, k):
    probabilities = logits.float().softmax(-1)
    weights, ids = probabilities.topk(k, dim=-1)
    weights = weights / weights.sum(-1, keepdim=True)
    return ids.to(torch.int32), weights


def dispatch_maps(ids, experts):
    flat = ids.reshape(-1).long()
    counts = torch.zeros(experts, dtype=torch.long, device=ids.device)
    counts.scatter_add_(0, flat, torch.ones_like(flat))
    padded = (counts + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
    offsets = torch.zeros(experts + 1, dtype=torch.long, device=ids.device)
    offsets[1:] = padded.cumsum(0)
    order = torch.argsort(flat, stable=True)  # by expert, then (token, slot)
    sorted_experts = flat[order]
    starts = counts.cumsum(0) - counts
    rank = torch.arange(flat.numel(), device=ids.device) - starts[sorted_experts]
    slot_to_row = torch.empty_like(flat)
    slot_to_row[order] = offsets[sorted_experts] + rank
    return offsets, counts, slot_to_row, order


def quantize_group128(rows):
    groups = rows.float().view(rows.shape[0], -1, 128)
    amax = groups.abs().amax(-1, keepdim=True)
    scale = torch.where(amax > 0, amax / 448.0, torch.ones_like(amax))
    codes = (groups / scale).to(torch.float8_e4m3fn)
    return codes.view(rows.shape), scale.squeeze(-1)


def combine(expert_output, slot_to_row, weights, rsf, tokens, k):
    rows = expert_output[slot_to_row].view(tokens, k, -1).float()
    return ((rows * weights.unsqueeze(-1)).sum(1) * rsf).to(torch.bfloat16)


def time_graph(body, unroll, replays):
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            body()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(unroll):
            body()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    samples = []
    for replay in range(replays + 3):
        start.record()
        graph.replay()
        stop.record()
        stop.synchronize()
        if replay >= 3:
            samples.append(start.elapsed_time(stop) * 1000.0 / unroll)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv")
    parser.add_argument("--replays", type=int, default=30)
    args = parser.parse_args()
    device = torch.device("cuda")
    properties = torch.cuda.get_device_properties(device)
    print(f"device: {properties.name}, torch {torch.__version__}")
    generator = torch.Generator(device=device).manual_seed(0)

    models = [
        dict(name="deepseek-v3", experts=256, k=8, hidden=7168, grouped=True, fp8=True,
             logits_dtype=torch.float32, rsf=2.5),
        dict(name="qwen3-30b-a3b", experts=128, k=8, hidden=2048, grouped=False, fp8=False,
             logits_dtype=torch.bfloat16, rsf=1.0),
    ]
    rows = []
    for model in models:
        for tokens in (1, 64, 4096, 16384):
            experts, k, hidden = model["experts"], model["k"], model["hidden"]
            logits = (torch.randn(tokens, experts, device=device, generator=generator) * 2).to(
                model["logits_dtype"])
            bias = torch.randn(experts, device=device, generator=generator) * 0.05
            states = torch.randn(tokens, hidden, device=device, generator=generator).to(torch.bfloat16)
            rows_total = tokens * k + experts * (ALIGNMENT - 1)
            expert_output = torch.randn(rows_total, hidden, device=device,
                                        generator=generator).to(torch.bfloat16)

            def route():
                if model["grouped"]:
                    return deepseek_route(logits, bias, 8, 4, k)
                return softmax_route(logits, k)

            def route_maps():
                ids, weights = route()
                return dispatch_maps(ids, experts), weights

            def route_dispatch():
                (offsets, counts, slot_to_row, order), weights = route_maps()
                permuted = states[order // k]
                if model["fp8"]:
                    return quantize_group128(permuted)
                return permuted

            ids, weights = route()
            _, _, slot_to_row, _ = dispatch_maps(ids, experts)

            def combine_stage():
                return combine(expert_output, slot_to_row, weights, model["rsf"], tokens, k)

            unroll = 20 if tokens <= 64 else 3
            stage_names = ["route", "route+maps",
                           "route+dispatch(fp8-g128)" if model["fp8"] else "route+dispatch(bf16)",
                           "combine"]
            for stage, body in zip(stage_names, [route, route_maps, route_dispatch, combine_stage]):
                try:
                    microseconds = time_graph(body, unroll, args.replays)
                except RuntimeError as error:  # an op that cannot be captured: report, go on
                    print(f"{model['name']:<14} {stage:<24} M={tokens:<6} capture failed: {error}")
                    continue
                print(f"{model['name']:<14} {stage:<24} M={tokens:<6} {microseconds:10.2f} us (torch)",
                      flush=True)
                rows.append(dict(model=model["name"], stage=stage, tokens=tokens, us=microseconds))
            del logits, states, expert_output
            torch.cuda.empty_cache()
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["model", "stage", "tokens", "us"])
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
