#!/usr/bin/env python3
"""A device session's results as one short markdown file (scripts/device_session.sh calls it last).

    python3 scripts/session_report.py OUT_DIR        # writes OUT_DIR/report.md, prints it

Collects what the session's steps left in OUT_DIR: the session log (what ran, the tests' counts,
the A/B rows "B vs A"), each `durations` line's kernels in launch order with their times, and
the headline metrics of each `ncu` profile. Standard library only.
"""
import glob
import os
import re
import sys


def kernel_label(line):
    """A readable name for an ncu kernel line: the function's own name and its grid."""
    name = line.strip()
    grid = re.search(r"\((\d+), (\d+), (\d+)\)x\((\d+), (\d+), (\d+)\)", name)
    head = name.replace("(anonymous namespace)", "anonymous").split("(")[0]
    head = re.sub(r"<.*", "", head)           # template arguments
    head = head.split("::")[-1].split(" ")[-1]
    if grid:
        return f"{head} grid {grid.group(1)}x{grid.group(2)} block {grid.group(4)}"
    return head


def durations_section(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    rows, pending = [], None
    for line in lines:
        if "gpu__time_duration" in line:
            fields = line.split()
            if pending is not None and len(fields) >= 3:
                unit, value = fields[-2], float(fields[-1].replace(",", ""))
                micros = value / 1000.0 if unit.startswith("n") else value * 1000.0 if unit.startswith("m") else value
                rows.append((pending, micros))
            pending = None
        elif line.startswith("  ") and "(" in line:
            pending = kernel_label(line)
    label = os.path.basename(path)[len("durations_"):-len(".txt")]
    out = [f"### Kernel durations: {label}", "", "| # | kernel | µs |", "|---|---|---|"]
    out += [f"| {i} | {name} | {micros:.1f} |" for i, (name, micros) in enumerate(rows, 1)]
    if rows:
        out.append(f"| | total | {sum(m for _, m in rows):.1f} |")
    else:
        out.append("| | (no kernel timed: see the file) | |")
    return out + [""]


NCU_KEYS = ("Duration", "Compute (SM) Throughput", "Memory Throughput", "DRAM Throughput",
            "L2 Hit Rate", "L1/TEX Hit Rate", "Achieved Occupancy", "Issue Slots Busy",
            "No Eligible", "Registers Per Thread")


def ncu_section(path):
    label = os.path.basename(path)[len("ncu_"):-len(".txt")]
    out = [f"### ncu: {label}", ""]
    for line in open(path, encoding="utf-8", errors="replace"):
        stripped = line.strip()
        if any(stripped.startswith(key) for key in NCU_KEYS):
            out.append("    " + re.sub(r"\s{2,}", "  ", stripped))
    hotspots = path[:-len(".txt")] + "_hotspots.txt"
    if os.path.exists(hotspots):
        out += ["", "Top stall instructions:", ""]
        out += ["    " + line.rstrip() for line in open(hotspots, encoding="utf-8", errors="replace")][:16]
    return out + [""]


def main_for(out_dir):
    """Writes out_dir/report.md and returns its text."""
    report = ["# Device session report", ""]
    session_log = os.path.join(out_dir, "session.log")
    if os.path.exists(session_log):
        report += ["## Session log", "", "```"]
        report += [line.rstrip() for line in open(session_log, encoding="utf-8", errors="replace")]
        report += ["```", ""]
    for path in sorted(glob.glob(os.path.join(out_dir, "durations_*.txt"))):
        report += durations_section(path)
    for path in sorted(glob.glob(os.path.join(out_dir, "ncu_*.txt"))):
        if not path.endswith("_hotspots.txt"):
            report += ncu_section(path)
    text = "\n".join(report) + "\n"
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(text)
    return text


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: session_report.py OUT_DIR")
    print(main_for(sys.argv[1]), end="")


if __name__ == "__main__":
    main()
