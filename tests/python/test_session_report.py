"""scripts/session_report.py turns a device session's outputs into one markdown report: the
session log as it is, each `durations` file's kernels in launch order with times in µs (ncu prints
them in ns, us or ms), and an ncu profile's headline metrics."""

from helpers import load_repo_script


def load_session_report():
    return load_repo_script("scripts/session_report.py")


def test_kernel_durations_in_launch_order_in_microseconds(tmp_path):
    (tmp_path / "durations_dsv3.txt").write_text(
        "  void fusedmoe::(anonymous namespace)::topk_routing_kernel<float, 8>(fusedmoe::P) "
        "(2048, 1, 1)x(256, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n"
        "    gpu__time_duration.sum   usecond   10.50\n"
        "  void cutlass::device_kernel<cutlass::gemm::kernel::GemmUniversal<A<int>, B>>(T1::Params) "
        "(132, 1, 1)x(384, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n"
        "    gpu__time_duration.sum   msecond   12.25\n"
        "  void fusedmoe::combine_kernel(fusedmoe::C) (64, 1, 1)x(128, 1, 1), Context 1\n"
        "    gpu__time_duration.sum   nsecond   2,500\n")
    (tmp_path / "session.log").write_text("[   1 s] gpu_tests (*): 317 passed, 0 skipped, 0 failed\n")
    load_session_report().main_for(str(tmp_path))
    report = (tmp_path / "report.md").read_text()
    assert "317 passed" in report
    assert "| 1 | topk_routing_kernel grid 2048x1 block 256 | 10.5 |" in report
    assert "| 2 | device_kernel grid 132x1 block 384 | 12250.0 |" in report
    assert "| 3 | combine_kernel grid 64x1 block 128 | 2.5 |" in report
    assert "| | total | 12263.0 |" in report


def test_a_durations_file_without_kernels_says_so(tmp_path):
    (tmp_path / "durations_empty.txt").write_text("==ERROR== profiling failed\n")
    load_session_report().main_for(str(tmp_path))
    assert "no kernel timed" in (tmp_path / "report.md").read_text()
