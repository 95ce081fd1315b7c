"""Writes the Triton peer's own routing to files, so that `fusedmoe bench --routing-dir` times the
ids and weights the peer timed (bench_moe.py --same-routing).

The peer (../shared/peers/triton_moe.py) draws its ids inside main() from torch's seeded generator,
after its ceilings and weights, in a fixed order. Rather than re-create that order here (it would
break silently when the peer changes), this runs the peer's own main() with two of its functions
swapped: ref_moe returns None (no reference), and peer_moe records the top-k ids and weights it is
given, then raises, so that the peer's config loop skips every config and times nothing. The
peer's JSON lines still print, experts_hit included, as a check against the timing run's.

    python3 bench/peer_routing.py --peer .peers/triton_moe.py --shape deepseek-v3-tp8 \
        --label deepseek-v3@tp8 --tokens 1,8,64 --out DIR

Writes DIR/<label>_M<M>.bin per token count: int32 ids [M, top_k], then fp32 weights [M, top_k],
little-endian (tools/common/routing_file.h reads it). Needs torch and triton (the peer's imports).
"""
import argparse
import importlib.util
import os
import struct
import sys


def routing_file_path(directory, label, tokens):
    return os.path.join(directory, f"{label}_M{tokens}.bin")


def write_routing(path, ids, weights):
    """ids: flat ints, weights: flat floats, both [M * top_k] in row-major order."""
    if len(ids) != len(weights):
        raise ValueError(f"{len(ids)} ids but {len(weights)} weights")
    with open(path, "wb") as f:
        f.write(struct.pack(f"<{len(ids)}i", *ids))
        f.write(struct.pack(f"<{len(weights)}f", *weights))


class _Recorded(Exception):
    """Raised by the recording peer_moe so that the peer's loop times no config."""


def load_peer(path):
    spec = importlib.util.spec_from_file_location("triton_moe_peer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, help="path of triton_moe.py")
    ap.add_argument("--shape", required=True, help="the peer's preset name, e.g. deepseek-v3-tp8")
    ap.add_argument("--label", required=True, help="fusedmoe's shape label, e.g. deepseek-v3@tp8")
    ap.add_argument("--tokens", required=True, help="comma-separated token counts, as given to the peer")
    ap.add_argument("--seed", type=int, default=0, help="the peer's --seed (its default: 0)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    peer = load_peer(args.peer)
    recorded = {}

    def record(x, w13, w2, topk_w, topk_ids, cfg, buf, fp8=None):
        m = int(topk_ids.shape[0])
        if m not in recorded:
            recorded[m] = (topk_ids.to(dtype=peer.torch.int32).flatten().cpu().tolist(),
                           topk_w.float().flatten().cpu().tolist())
        raise _Recorded()

    peer.peer_moe = record
    peer.ref_moe = lambda *unused, **unused_too: None
    sys.argv = [args.peer, "--shape", args.shape, "--dtype", "bf16", "--tokens", args.tokens,
                "--seed", str(args.seed)]
    peer.main()

    os.makedirs(args.out, exist_ok=True)
    missing = []
    for m in [int(t) for t in args.tokens.split(",")]:
        if m not in recorded:
            missing.append(m)
            continue
        ids, weights = recorded[m]
        path = routing_file_path(args.out, args.label, m)
        write_routing(path, ids, weights)
        hit = len({i for i in ids if i >= 0})
        print(f"peer routing: {args.label} M={m}: {hit} experts hit -> {path}", flush=True)
    if missing:
        print(f"peer routing: {args.label}: no ids recorded for M in {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
