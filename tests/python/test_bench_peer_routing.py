"""bench/peer_routing.py writes the routing files `fusedmoe bench --routing-dir` reads
(tools/common/routing_file.h): int32 ids then fp32 weights, little-endian, named by shape label and M.
The recording itself needs the peer (torch + triton on a GPU) and runs in the device benchmark."""

import pathlib
import struct

import pytest

from helpers import load_repo_script


def load_peer_routing():
    return load_repo_script("bench/peer_routing.py")


def test_routing_file_holds_int32_ids_then_fp32_weights(tmp_path):
    peer_routing = load_peer_routing()
    path = peer_routing.routing_file_path(str(tmp_path), "deepseek-v3@tp8", 2)
    assert path.endswith("deepseek-v3@tp8_M2.bin")
    ids = [3, -1, 255, 0]
    weights = [0.5, 0.0, 0.25, -0.125]
    peer_routing.write_routing(path, ids, weights)
    data = pathlib.Path(path).read_bytes()
    assert len(data) == 4 * 4 + 4 * 4
    assert list(struct.unpack("<4i", data[:16])) == ids
    assert list(struct.unpack("<4f", data[16:])) == weights


def test_routing_file_refuses_unequal_ids_and_weights(tmp_path):
    peer_routing = load_peer_routing()
    with pytest.raises(ValueError, match="3 ids but 2 weights"):
        peer_routing.write_routing(str(tmp_path / "r.bin"), [1, 2, 3], [0.5, 0.5])


# A stand-in for the peer with its main()'s shape: argparse over sys.argv, its routing drawn in
# main, then per M a config loop that calls peer_moe inside try/except and prints a JSON line.
FAKE_PEER = '''
import argparse
import json


class Tensor:
    def __init__(self, rows):
        self.rows = rows
        self.shape = (len(rows), len(rows[0]))

    def to(self, dtype=None):
        return self

    def float(self):
        return self

    def flatten(self):
        return Tensor([[v for row in self.rows for v in row]])

    def cpu(self):
        return self

    def tolist(self):
        return list(self.rows[0])


class torch:
    int32 = "int32"


def ref_moe(*args):
    raise AssertionError("the recording run must not compute the reference")


def peer_moe(x, w13, w2, topk_w, topk_ids, cfg, buf, fp8=None):
    raise AssertionError("the recording run must not time the peer")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape")
    ap.add_argument("--dtype")
    ap.add_argument("--tokens")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for m in [int(t) for t in args.tokens.split(",")]:
        ids = Tensor([[(m * 3 + s + args.seed) % 16 for s in range(2)] for _ in range(m)])
        weights = Tensor([[0.5, 0.25] for _ in range(m)])
        ref = ref_moe(ids)
        best = None
        for cfg in (1, 2):
            try:
                peer_moe(None, None, None, weights, ids, cfg, {})
            except Exception:
                continue
        print(json.dumps(dict(shape=args.shape, M=m, experts_hit=2, peer_us=best)))
'''


def test_recording_runs_the_peers_main_and_writes_its_ids(tmp_path, monkeypatch, capsys):
    peer_path = tmp_path / "triton_moe.py"
    peer_path.write_text(FAKE_PEER)
    out = tmp_path / "routing"
    peer_routing = load_peer_routing()
    monkeypatch.setattr("sys.argv", ["peer_routing.py", "--peer", str(peer_path), "--shape", "qwen3-30b-a3b",
                                     "--label", "qwen3-30b-a3b", "--tokens", "1,3", "--seed", "1", "--out", str(out)])
    assert peer_routing.main() == 0
    data = (out / "qwen3-30b-a3b_M3.bin").read_bytes()
    assert list(struct.unpack("<6i", data[:24])) == [10, 11] * 3
    assert list(struct.unpack("<6f", data[24:])) == [0.5, 0.25] * 3
    assert (out / "qwen3-30b-a3b_M1.bin").stat().st_size == 2 * 4 * 2
    printed = capsys.readouterr().out
    assert '"M": 3' in printed and "M=3: 2 experts hit" in printed
