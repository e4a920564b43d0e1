#!/usr/bin/env python3
"""Planning-engine benchmark: `fieldopt solve` on the Solomon instances,
gaps to the distance-only best-known solutions, and PyVRP / OR-Tools side by
side on the same instances in the same run.

Usage (from the repository root):
    cargo build --release --locked -p fieldopt-server
    python3 bench/planning/run.py --limits 0.5,5 --compare-limit 5 --out docs/planning-benchmarks.md
The instances and best-known results are read from bench/data; `--data DIR`
reads another folder laid out the same way (solomon/, gh200/, bks.csv).
Optional: pip install pyvrp ortools (each comparison is skipped with a note
when its package is missing).
"""
import argparse, csv, json, math, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data"
TEN = ["C101", "C104", "C201", "R101", "R105", "R201", "R208", "RC101", "RC105", "RC201"]


def bks():
    """Distance-only BKS per instance; the hierarchical one where the table
    has no distance-only value (C204), marked in FALLBACK."""
    best, hierarchical = {}, {}
    with open(DATA / "bks.csv") as f:
        for row in csv.DictReader(f):
            if row["objective"] == "distance_trunc1":
                best[row["instance"]] = float(row["distance"])
            elif row["objective"] == "hierarchical":
                hierarchical[row["instance"]] = float(row["distance"])
    for name, value in hierarchical.items():
        if name not in best:
            best[name] = value
            FALLBACK.add(name)
    return best


FALLBACK = set()


def parse(path):
    lines = [l.split() for l in path.read_text().splitlines() if l.strip()]
    vehicles = capacity = None
    customers = []
    for i, l in enumerate(lines):
        if l[0] == "NUMBER":
            vehicles, capacity = int(lines[i + 1][0]), int(lines[i + 1][1])
        if len(l) == 7 and l[0].isdigit():
            customers.append([float(x) for x in l])
    return vehicles, capacity, customers


def route_distance(customers, routes):
    def d(a, b):
        return math.hypot(customers[a][1] - customers[b][1], customers[a][2] - customers[b][2])
    total = 0.0
    for r in routes:
        path = [0] + list(r) + [0]
        total += sum(d(path[i], path[i + 1]) for i in range(len(path) - 1))
    return total


def run_ours(binary, path, limit):
    out = subprocess.run([binary, "solve", str(path), "--time-limit-ms", str(int(limit * 1000))],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    return r["distance"], r["vehicles"], len(r["unassigned"]) == 0


def run_pyvrp(path, limit):
    import pyvrp
    from pyvrp.stop import MaxRuntime
    vehicles, capacity, customers = parse(path)
    scale = 1000  # PyVRP works on integers: distances in thousandths
    m = pyvrp.Model()
    places = [m.add_location(x=int(c[1]), y=int(c[2])) for c in customers]
    depot = m.add_depot(places[0], tw_early=int(customers[0][4] * scale), tw_late=int(customers[0][5] * scale))
    m.add_vehicle_type(num_available=vehicles, capacity=[capacity],
                       tw_early=int(customers[0][4] * scale), tw_late=int(customers[0][5] * scale))
    for place, c in zip(places[1:], customers[1:]):
        m.add_client(place, delivery=[int(c[3])], service_duration=int(c[6] * scale),
                     tw_early=int(c[4] * scale), tw_late=int(c[5] * scale))
    for i, a in enumerate(places):
        for j, b in enumerate(places):
            if i != j:
                dist = math.hypot(customers[i][1] - customers[j][1], customers[i][2] - customers[j][2])
                # Rounded up, so PyVRP's schedule is never more optimistic than the exact one.
                v = math.ceil(dist * scale)
                m.add_edge(a, b, distance=v, duration=v)
    res = m.solve(stop=MaxRuntime(limit), seed=1, display=False)
    # PyVRP's own distance of its best solution: arcs rounded up to 1/1000.
    return res.best.distance() / scale, res.best.num_routes(), res.best.is_feasible()


def run_ortools(path, limit):
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    vehicles, capacity, customers = parse(path)
    scale = 100
    n = len(customers)
    dist = [[int(math.ceil(math.hypot(a[1] - b[1], a[2] - b[2]) * scale)) for b in customers] for a in customers]
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    transit = routing.RegisterTransitCallback(lambda i, j: dist[manager.IndexToNode(i)][manager.IndexToNode(j)])
    routing.SetArcCostEvaluatorOfAllVehicles(transit)
    time_cb = routing.RegisterTransitCallback(
        lambda i, j: dist[manager.IndexToNode(i)][manager.IndexToNode(j)] + int(customers[manager.IndexToNode(i)][6] * scale))
    routing.AddDimension(time_cb, 10 ** 9, int(customers[0][5] * scale), False, "Time")
    time_dim = routing.GetDimensionOrDie("Time")
    for node in range(1, n):
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(int(customers[node][4] * scale), int(customers[node][5] * scale))
    demand = routing.RegisterUnaryTransitCallback(lambda i: int(customers[manager.IndexToNode(i)][3]))
    routing.AddDimensionWithVehicleCapacity(demand, 0, [capacity] * vehicles, True, "Load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(limit * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return float("nan"), 0, False
    routes = []
    for v in range(vehicles):
        i, r = routing.Start(v), []
        i = solution.Value(routing.NextVar(i))
        while not routing.IsEnd(i):
            r.append(manager.IndexToNode(i))
            i = solution.Value(routing.NextVar(i))
        if r:
            routes.append(r)
    return route_distance(customers, routes), len(routes), True


def gap(value, best):
    return 100.0 * (value - best) / best


def main():
    global DATA
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "fieldopt"))
    ap.add_argument("--limits", default="0.5,5")
    ap.add_argument("--compare-limit", type=float, default=5.0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "planning-benchmarks.md"))
    ap.add_argument("--data", default=str(DATA), help="folder with solomon/, gh200/ and bks.csv")
    args = ap.parse_args()
    DATA = Path(args.data)
    best = bks()
    files = sorted((DATA / "solomon").glob("*.txt"))
    lines = [f"# Planning engine benchmark\n",
             f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit "
             f"{subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=ROOT).stdout.strip()}, "
             f"{os.cpu_count()} cores, one thread per solver, one solver at a time.\n",
             f"Command: `python3 bench/planning/run.py --binary {Path(args.binary).relative_to(ROOT) if Path(args.binary).is_relative_to(ROOT) else args.binary} "
             f"--limits {args.limits} --compare-limit {args.compare_limit}`\n",
             "Gap = (distance − BKS) / BKS, BKS = the distance-only best known (`distance_trunc1` in "
             "`bks.csv`, arcs truncated to one decimal, so exact distances cannot quite reach 0 %).\n"]
    for limit in [float(x) for x in args.limits.split(",")]:
        rows, gaps, infeasible, over = [], [], 0, 0
        for f in files:
            name = f.stem
            dist, vehicles, ok = run_ours(args.binary, f, limit)
            allowed = parse(f)[0]
            g = gap(dist, best[name])
            gaps.append(g)
            infeasible += 0 if ok else 1
            over += 1 if vehicles > allowed else 0
            mark = " (hierarchical BKS: no distance-only value)" if name in FALLBACK else ""
            rows.append(f"| {name}{mark} | {dist:.2f} | {best[name]:.1f} | {g:.2f} % | {vehicles} |")
            print(name, limit, round(dist, 2), round(g, 2), flush=True)
        lines.append(f"\n## fieldopt, all {len(files)} Solomon instances, {limit} s\n")
        lines.append(f"Mean gap **{statistics.mean(gaps):.2f} %**, median {statistics.median(gaps):.2f} %, "
                     f"max {max(gaps):.2f} %; instances with a customer left out: {infeasible}; "
                     f"over the vehicle count: {over}.\n")
        lines.append("<details><summary>per instance</summary>\n\n| instance | distance | BKS | gap | vehicles |\n|---|---|---|---|---|")
        lines += rows
        lines.append("\n</details>\n")
    solvers = [("fieldopt", lambda p, t: run_ours(args.binary, p, t))]
    for label, module, fn in [("PyVRP", "pyvrp", run_pyvrp), ("OR-Tools", "ortools", run_ortools)]:
        try:
            __import__(module)
            solvers.append((label, fn))
        except ImportError:
            lines.append(f"\n{label} is not installed: skipped (`pip install {module}`).\n")
    limit = args.compare_limit
    lines.append(f"\n## Side by side, 10 instances, {limit} s each\n")
    lines.append("| instance | BKS | " + " | ".join(s for s, _ in solvers) + " |")
    lines.append("|---|---|" + "---|" * len(solvers))
    per_solver = {s: [] for s, _ in solvers}
    for name in TEN:
        path = DATA / "solomon" / f"{name}.txt"
        cells = []
        for label, fn in solvers:
            dist, vehicles, ok = fn(path, limit)
            g = gap(dist, best[name])
            per_solver[label].append(g)
            cells.append(f"{dist:.2f} ({g:.2f} %, {vehicles} veh{'' if ok else ', INFEASIBLE'})")
            print(name, label, round(dist, 2), flush=True)
        lines.append(f"| {name} | {best[name]:.1f} | " + " | ".join(cells) + " |")
    def summary(values):
        solved = [g for g in values if not math.isnan(g)]
        text = f"**{statistics.mean(solved):.2f} %** ({max(solved):.2f})" if solved else "n/a"
        missing = len(values) - len(solved)
        return text + (f", no solution on {missing}" if missing else "")
    lines.append("| **mean (max) gap** | | " + " | ".join(summary(v) for v in per_solver.values()) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
