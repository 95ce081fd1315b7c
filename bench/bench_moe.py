"""fusedmoe against the Triton fused-MoE peer, in one device run.

Runs `fusedmoe bench --csv` for the shapes and token counts (one process per shape), then the peer
(`triton_moe.py --shape S --dtype bf16 --tokens ...`, one process per shape, JSON lines) for the
same shapes, merges them by (shape, M) and writes a markdown table:

    shape | M | fusedmoe µs | % floor | TF/s | peer µs | peer % floor | ratio

ratio = peer µs / fusedmoe µs (> 1: fusedmoe is faster). Both sides count the floor the same way
(tools/common/bench_figures.h mirrors the peer), each with the ceilings it measured itself in this
run. The peer's time excludes routing and block alignment; fusedmoe's routed entry includes its
dispatch (see the peer's docstring).

The peer is the project's copy of ../shared/peers/triton_moe.py and is not committed: put it in
the ignored folder .peers/ (`mkdir -p .peers && cp ../shared/peers/triton_moe.py .peers/`), and
name `.peers` in the device run's carry list.

    python3 bench/bench_moe.py [--quick] [--shapes A,B@tp8] [--tokens 1,8] [--budget SECONDS]
                               [--out DIR] [--fusedmoe PATH] [--peer PATH] [--no-peer]
                               [--fusedmoe-args "--rotate 1"] [--same-routing]

--same-routing: fusedmoe times the peer's own ids and weights (bench/peer_routing.py records them
from the peer's code, before either side is timed) with one input set replayed, as the peer does:
both sides then read the same experts (the table's experts-hit column shows it), at the cost of
the L2 reuse that one replayed set allows at small M on both sides alike.

Writes DIR/perf_table.md (the table) and DIR/bench_moe_raw.csv (every column of both sides);
DIR defaults to $OUT, else ./bench-out. Standard library only: torch is needed by the peer alone.
"""
import argparse
import csv
import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_SHAPES = ["deepseek-v3", "deepseek-v3@tp8", "qwen3-30b-a3b", "mixtral-8x7b", "minimax-m2"]
DEFAULT_TOKENS = "1,8,64,256,1024,4096,16384"
QUICK_TOKENS = "1,64,1024,16384"
# Our shape label -> the peer's PRESETS name (triton_moe.py); shapes the peer lacks run alone.
PEER_SHAPES = {
    "deepseek-v3": "deepseek-v3",
    "deepseek-v3@tp8": "deepseek-v3-tp8",
    "qwen3-30b-a3b": "qwen3-30b-a3b",
    "mixtral-8x7b": "mixtral-8x7b",
    "minimax-m2": "minimax-m2",
}
# Share of the time budget the fusedmoe side may use; the peer (Triton compiles, five configs per
# M, its own ceilings per shape) takes the rest.
FUSEDMOE_SHARE = 0.4


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_fusedmoe(explicit):
    if explicit:
        return explicit
    root = repo_root()
    for name in ("build-device", "build"):
        path = os.path.join(root, name, "tools", "fusedmoe")
        if os.access(path, os.X_OK):
            return path
    found = [p for p in glob.glob(os.path.join(root, "build*", "tools", "fusedmoe")) if os.access(p, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None


def find_peer(explicit):
    if explicit:
        return explicit
    root = repo_root()
    for path in (os.path.join(root, ".peers", "triton_moe.py"),
                 os.path.join(root, "..", "shared", "peers", "triton_moe.py")):
        if os.path.isfile(path):
            return os.path.normpath(path)
    return None


def run_streaming(cmd, timeout_s, env=None):
    """Runs cmd, echoing its output (stdout and stderr) as it comes; kills it at timeout_s.
    Returns (exit status or "timeout", output lines)."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    if timeout_s <= 0:
        print("skipped: no time left in the budget", flush=True)
        return "skipped", []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1, env=env)
    except OSError as error:
        print(f"could not start: {error}", flush=True)
        return "not started", []
    lines = []

    def pump():
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        status = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = "timeout"
        print(f"killed after {timeout_s:.0f} s (budget)", flush=True)
    reader.join(10)
    return status, lines


def read_fusedmoe_csv(path):
    rows = {}
    if not os.path.isfile(path):
        return rows
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows[(row["shape"], int(row["tokens"]))] = row
    return rows


def parse_peer_lines(lines, label):
    rows = {}
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[(label, int(record["M"]))] = record
    return rows


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def fmt(value, pattern):
    return "—" if value is None else pattern.format(value)


def merge(labels, tokens, ours, peers):
    merged = []
    for label in labels:
        for m in tokens:
            mine = ours.get((label, m), {})
            peer = peers.get((label, m), {})
            our_us = number(mine.get("time_us")) if mine.get("status") == "ok" else None
            peer_us = peer.get("peer_us")
            peer_floor = peer.get("floor_us")
            merged.append({
                "shape": label,
                "M": m,
                "fusedmoe_us": our_us,
                "pct_floor": number(mine.get("pct_floor")) if our_us else None,
                "tflops": number(mine.get("tflops")) if our_us else None,
                "tbps": number(mine.get("tbps")) if our_us else None,
                "experts_hit": number(mine.get("experts_hit")),
                "sets": mine.get("sets", ""),
                "floor_us": number(mine.get("floor_us")),
                "read_bw": number(mine.get("read_bw")),
                "bf16_rate": number(mine.get("bf16_rate")),
                "status": mine.get("status", "not run"),
                "peer_us": peer_us,
                "peer_pct_floor": peer_floor / peer_us * 100 if peer_us and peer_floor else None,
                "peer_floor_us": peer_floor,
                "peer_experts_hit": peer.get("experts_hit"),
                "peer_read_bw": peer.get("read_bw"),
                "peer_rate": peer.get("rate"),
                "peer_cfg": json.dumps(peer["cfg"], sort_keys=True) if peer.get("cfg") else "",
                "ratio": peer_us / our_us if peer_us and our_us else None,
            })
    return merged


def markdown(merged, header_lines):
    out = list(header_lines)
    out.append("")
    # Experts hit differ between the sides (each draws its own routing), and at decode sizes the
    # bytes read scale with them: the column says when a ratio compares unequal work.
    out.append("| shape | M | fusedmoe µs | % floor | TF/s | peer µs | peer % floor | ratio | experts hit (ours / peer) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in merged:
        ours = fmt(r["fusedmoe_us"], "{:.1f}") if r["fusedmoe_us"] else r["status"]
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |".format(
            r["shape"], r["M"], ours, fmt(r["pct_floor"], "{:.0f}%"), fmt(r["tflops"], "{:.0f}"),
            fmt(r["peer_us"], "{:.1f}"), fmt(r["peer_pct_floor"], "{:.0f}%"),
            fmt(r["ratio"], "{:.2f}x"), fmt(r["experts_hit"], "{:.0f}"),
            fmt(r["peer_experts_hit"], "{:.0f}")))
    below = [r for r in merged if r["ratio"] is not None and r["ratio"] < 0.97]
    out.append("")
    if below:
        # With each side's own routing, a ratio can reflect unequal work: say so per row.
        out.append("Below 0.97x the peer: " + ", ".join(
            "{} M={} ({:.2f}x; experts hit {} / {}, % floor {} / {})".format(
                r["shape"], r["M"], r["ratio"], fmt(r["experts_hit"], "{:.0f}"),
                fmt(r["peer_experts_hit"], "{:.0f}"), fmt(r["pct_floor"], "{:.0f}%"),
                fmt(r["peer_pct_floor"], "{:.0f}%")) for r in below))
    else:
        out.append("Below 0.97x the peer: none among the rows measured on both sides.")
    return "\n".join(out) + "\n"


def write_raw(path, merged):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(merged[0].keys()) if merged else ["shape"])
        writer.writeheader()
        for r in merged:
            writer.writerow({k: ("" if v is None else v) for k, v in r.items()})


def ceilings_lines(fusedmoe_lines, ours, peers):
    """One line per side: the ceilings each measured in this run."""
    device = next((l.split("measured on", 1)[1].strip() for l in fusedmoe_lines
                   if l.startswith("ceilings") and "measured on" in l), "the device")
    lines = []
    mine = {}
    for (label, _), row in ours.items():
        if number(row.get("read_bw")) and number(row.get("bf16_rate")):
            mine.setdefault(label, row)
    if mine:
        lines.append("fusedmoe ceilings, measured on {} (per shape, one process each): ".format(device) +
                     "; ".join("{} read {:.3f} TB/s, bf16 {:.1f} TF/s".format(
                         label, number(r["read_bw"]) * 1e-12, number(r["bf16_rate"]) * 1e-12)
                         for label, r in mine.items()))
    seen = {}
    for (label, _), record in peers.items():
        seen.setdefault(label, record)
    if seen:
        lines.append("peer ceilings (it measures them per shape): " + "; ".join(
            "{} read {:.3f} TB/s, bf16 {:.1f} TF/s".format(label, r["read_bw"] * 1e-12, r["rate"] * 1e-12)
            for label, r in seen.items()))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tokens " + QUICK_TOKENS)
    ap.add_argument("--shapes", default=",".join(DEFAULT_SHAPES))
    ap.add_argument("--tokens", default=None)
    ap.add_argument("--budget", type=float, default=540.0, help="seconds for both sides together")
    ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(os.getcwd(), "bench-out"))
    ap.add_argument("--fusedmoe", default=None, help="path of the fusedmoe binary")
    ap.add_argument("--peer", default=None, help="path of triton_moe.py")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--fusedmoe-args", default="", help="extra arguments for `fusedmoe bench`")
    ap.add_argument("--same-routing", action="store_true",
                    help="fusedmoe times the peer's own routing, one input set (see above)")
    args = ap.parse_args()

    start = time.monotonic()
    deadline = start + args.budget
    tokens = args.tokens or (QUICK_TOKENS if args.quick else DEFAULT_TOKENS)
    token_list = [int(t) for t in tokens.split(",")]
    labels = [s for s in args.shapes.split(",") if s]
    os.makedirs(args.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="bench_moe_")
    notes = []

    binary = find_fusedmoe(args.fusedmoe)
    peer = None if args.no_peer else find_peer(args.peer)
    extra_fusedmoe_args = shlex.split(args.fusedmoe_args)
    if args.same_routing:
        routing_dir = os.path.join(scratch, "routing")
        if peer is None:
            notes.append("same routing: no peer to take it from; each side draws its own")
        else:
            statuses = []
            for label in [l for l in labels if l in PEER_SHAPES]:
                cmd = [sys.executable, os.path.join(repo_root(), "bench", "peer_routing.py"), "--peer", peer,
                       "--shape", PEER_SHAPES[label], "--label", label, "--tokens", tokens, "--out", routing_dir]
                status, _ = run_streaming(cmd, max(deadline - time.monotonic(), 1.0))
                statuses.append(str(status))
            extra_fusedmoe_args += ["--routing-dir", routing_dir, "--rotate", "1"]
            notes.append("same routing: fusedmoe timed the peer's ids and weights, one input set "
                         "(peer_routing.py exit " + "/".join(statuses) + ")")
    fusedmoe_lines = []
    ours = {}
    if binary is None:
        notes.append("fusedmoe: no build*/tools/fusedmoe binary found (build first)")
        print(notes[-1], flush=True)
    else:
        # One process per shape, as the peer runs: a shape's small-M rows then start on a GPU that
        # has not just run the previous shape's compute-bound rows (clocks), on both sides alike.
        statuses = []
        our_deadline = start + args.budget * FUSEDMOE_SHARE
        for i, label in enumerate(labels):
            our_csv = os.path.join(scratch, f"fusedmoe_bench_{i}.csv")
            cmd = [binary, "bench", "--model", label, "--tokens", tokens, "--csv", our_csv]
            cmd += extra_fusedmoe_args
            share = (our_deadline - time.monotonic()) / (len(labels) - i)
            status, lines = run_streaming(cmd, max(share, 1.0))
            fusedmoe_lines += lines
            statuses.append(str(status))
            ours.update(read_fusedmoe_csv(our_csv))
        notes.append("fusedmoe bench (one process per shape): exit " + "/".join(statuses))

    peers = {}
    if args.no_peer:
        notes.append("peer: not run (--no-peer)")
    elif peer is None:
        notes.append("peer: triton_moe.py not found (cp ../shared/peers/triton_moe.py .peers/)")
        print(notes[-1], flush=True)
    else:
        runnable = [l for l in labels if l in PEER_SHAPES]
        for l in labels:
            if l not in PEER_SHAPES:
                notes.append(f"peer: no peer preset for {l}")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for i, label in enumerate(runnable):
            share = (deadline - time.monotonic()) / (len(runnable) - i)
            cmd = [sys.executable, peer, "--shape", PEER_SHAPES[label], "--dtype", "bf16",
                   "--tokens", tokens]
            status, lines = run_streaming(cmd, share, env=env)
            got = parse_peer_lines(lines, label)
            peers.update(got)
            notes.append(f"peer {PEER_SHAPES[label]}: exit {status}, {len(got)} rows")

    merged = merge(labels, token_list, ours, peers)
    header = ["## BF16 MoE: fusedmoe `bench` vs the Triton peer (same device run)", ""]
    header += ceilings_lines(fusedmoe_lines, ours, peers)
    header += ["ratio = peer µs / fusedmoe µs (> 1: fusedmoe faster); % floor = floor / time."]
    header += ["run: " + "; ".join(notes) + f"; {time.monotonic() - start:.0f} s"]
    table = markdown(merged, header)
    with open(os.path.join(args.out, "perf_table.md"), "w") as f:
        f.write(table)
    write_raw(os.path.join(args.out, "bench_moe_raw.csv"), merged)
    print()
    print(table, flush=True)
    measured_both = sum(1 for r in merged if r["ratio"] is not None)
    return 0 if merged and measured_both == len(merged) else 1


if __name__ == "__main__":
    sys.exit(main())
