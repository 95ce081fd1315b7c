"""Runs one MoE layer through fusedmoe and through a plain-torch implementation; prints how far
apart the outputs are and how long each takes.

    python examples/compare_with_torch.py                         # Qwen3-30B-A3B shape, GPU
    python examples/compare_with_torch.py --hidden 7168 --inter 256 --experts 256 --top-k 8 \\
        --tokens 1,16,256,4096

The torch version is the straightforward one (a loop over the experts that got tokens, bf16
matmuls): a correctness yardstick and a floor for speed, not a tuned peer (bench/ has those).
Times are medians of CUDA-event-timed calls after warm-up. Without a usable GPU it runs the CPU
reference on a small shape instead, and says so.
"""

import argparse
import statistics
import time

import torch

import fusedmoe


def torch_moe(x, logits, w13, w2, top_k):
    """softmax -> top-k -> renormalize; SwiGLU experts (w13 rows: gate then up); weighted sum."""
    probs = torch.softmax(logits.float(), dim=-1)
    weights, ids = torch.topk(probs, top_k, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    inter = w2.shape[2]
    for expert in ids.unique().tolist():
        token, slot = (ids == expert).nonzero(as_tuple=True)
        h = x[token] @ w13[expert].t()
        act = torch.nn.functional.silu(h[:, :inter]) * h[:, inter:]
        y = act @ w2[expert].t()
        out.index_add_(0, token, y.float() * weights[token, slot, None])
    return out.to(x.dtype)


def timed(fn, device, repeats):
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        if device == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            samples.append(start.elapsed_time(stop) * 1e3)
        else:
            begin = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - begin) * 1e6)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--inter", type=int, default=768)
    parser.add_argument("--experts", type=int, default=128)
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--tokens", default="1,8,64,512,4096")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    info = fusedmoe.cuda_device_info()
    device = "cuda" if info.available and torch.cuda.is_available() else "cpu"
    if device == "cpu":
        print(f"no usable GPU ({info.reason}): CPU reference on a small shape")
        args.hidden, args.inter, args.experts, args.top_k = 256, 128, 16, 4
        args.tokens, args.repeats = "1,8,32", 3
    H, I, E, K = args.hidden, args.inter, args.experts, args.top_k

    g = torch.Generator().manual_seed(0)
    w13 = (torch.randn(E, 2 * I, H, generator=g) / H ** 0.5).to(torch.bfloat16).to(device)
    w2 = (torch.randn(E, H, I, generator=g) / I ** 0.5).to(torch.bfloat16).to(device)
    max_tokens = max(int(t) for t in args.tokens.split(","))
    moe = fusedmoe.MoeConfig(hidden_size=H, intermediate_size=I, num_experts=E, top_k=K)
    # prepare_weights converts in place: the layer gets its own copy, torch keeps the checkpoint.
    layer = fusedmoe.MoELayer(moe, fusedmoe.ExpertWeights(w13=w13.clone(), w2=w2.clone()),
                              fusedmoe.RoutingConfig(method=fusedmoe.RoutingMethod.SOFTMAX_TOPK),
                              max_num_tokens=max_tokens)

    print(f"{device}: H={H} I={I} E={E} top_k={K}, bf16 weights")
    print(f"{'tokens':>7} {'max|diff|':>10} {'rel_l2':>9} {'fusedmoe us':>12} {'torch us':>10} "
          f"{'speed-up':>8}")
    for tokens in (int(t) for t in args.tokens.split(",")):
        x = torch.randn(tokens, H, generator=g).to(torch.bfloat16).to(device)
        logits = torch.randn(tokens, E, generator=g).to(device)
        ours = layer.forward(x, logits)
        theirs = torch_moe(x, logits, w13, w2, K)
        diff = (ours.float() - theirs.float())
        rel_l2 = (diff.norm() / theirs.float().norm()).item()
        t_ours = timed(lambda: layer.forward(x, logits), device, args.repeats)
        t_theirs = timed(lambda: torch_moe(x, logits, w13, w2, K), device, args.repeats)
        print(f"{tokens:>7} {diff.abs().max().item():>10.3g} {rel_l2:>9.2e} {t_ours:>12.1f} "
              f"{t_theirs:>10.1f} {t_theirs / t_ours:>7.2f}x")


if __name__ == "__main__":
    main()
