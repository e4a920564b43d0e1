#!/usr/bin/env python3
"""Gehring–Homberger 200-customer instances: fieldopt against PyVRP at the
same time limit, in one run. Appends a table to docs/planning-benchmarks.md.

    python3 bench/planning/gh200.py --binary target/release/fieldopt --limit 30 C1_2_1 R1_2_1 RC1_2_1

Instances come from bench/data/gh200; `--data DIR` reads another folder with
the same layout (gh200/*.txt).
"""
import argparse, statistics, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(run.ROOT / "target" / "release" / "fieldopt"))
    ap.add_argument("--limit", type=float, default=30.0)
    ap.add_argument("--data", default=str(run.DATA), help="folder holding gh200/")
    ap.add_argument("instances", nargs="+")
    args = ap.parse_args()
    run.DATA = Path(args.data)
    rows, ratios = [], []
    for name in args.instances:
        path = run.DATA / "gh200" / f"{name}.txt"
        ours, our_vehicles, ok = run.run_ours(args.binary, path, args.limit)
        theirs, their_vehicles, their_ok = run.run_pyvrp(path, args.limit)
        ratio = 100.0 * (ours - theirs) / theirs
        ratios.append(ratio)
        rows.append(f"| {name} | {ours:.2f} ({our_vehicles} veh{'' if ok else ', customers left out'}) | "
                    f"{theirs:.2f} ({their_vehicles} veh{'' if their_ok else ', infeasible'}) | {ratio:+.2f} % |")
        print(rows[-1], flush=True)
    text = [f"\n## Gehring–Homberger 200 customers, {args.limit} s each, against PyVRP\n",
            f"Command: `python3 bench/planning/gh200.py --limit {args.limit} {' '.join(args.instances)}` "
            "(one solver at a time, one thread each).\n",
            "| instance | fieldopt | PyVRP | fieldopt vs PyVRP |", "|---|---|---|---|", *rows,
            f"\nMean difference {statistics.mean(ratios):+.2f} % (target: within 2 % of PyVRP: "
            f"{'met' if statistics.mean(ratios) <= 2 else 'NOT met'}).\n"]
    with open(run.ROOT / "docs" / "planning-benchmarks.md", "a") as f:
        f.write("\n".join(text))


if __name__ == "__main__":
    main()
