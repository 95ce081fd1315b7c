#!/usr/bin/env python3
"""Top stall locations of one kernel from an ncu report, as text.

    ncu -k regex:<kernel> --launch-count 1 --section SourceCounters --section WarpStateStats \
        -o report <program>
    ncu -i report.ncu-rep --page source --print-source sass --csv > source.csv
    python3 scripts/ncu_hotspots.py source.csv [--top 30]

Prints the SASS instructions with the most warp-stall samples (all samples, and the share of
the kernel's total), so a profile taken on the GPU machine comes back as a few lines of text.
"""
import argparse
import csv
import sys


def number(text):
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv_file")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    with open(args.csv_file, newline="") as handle:
        lines = handle.readlines()
    # The table starts at its header row (a "Kernel Name" line may come first).
    header = next((i for i, line in enumerate(lines) if line.startswith('"Address"')), None)
    if header is None:
        sys.exit(f"{args.csv_file}: no table header (is it ncu --page source --csv output?)")
    rows = list(csv.DictReader(lines[header:]))
    if not rows:
        sys.exit(f"{args.csv_file}: no table (is it ncu --page source --csv output?)")
    columns = rows[0].keys()
    samples = next((c for c in columns if "Warp Stall Sampling (All" in c), None)
    source = next((c for c in columns if c.strip() in ("Source", "# Source")), None)
    address = next((c for c in columns if "Address" in c), None)
    if samples is None or source is None:
        sys.exit(f"columns not found; have: {list(columns)}")
    total = sum(number(row[samples]) for row in rows) or 1.0
    print(f"{len(rows)} instructions, {total:.0f} stall samples; top {args.top}:")
    for row in sorted(rows, key=lambda r: number(r[samples]), reverse=True)[: args.top]:
        share = number(row[samples]) / total * 100
        where = row[address] if address else ""
        print(f"{share:5.1f}%  {where:>8}  {row[source].strip()}")


if __name__ == "__main__":
    main()
