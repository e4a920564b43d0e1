#!/usr/bin/env python3
"""Turns the JSON lines of bench/load/run.sh into docs/load-benchmarks.md.

Usage: report.py RESULTS OUT. Each measurement (label, scenario,
connections) has one line per run; the report shows the median of each
figure over the runs (errors and 409s summed). In smoke mode it exits 1 when
a measurement had an error or no request at all.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

TARGET_CONNECTIONS = 32
# (scenario, minimum ratio to /healthz) on SQLite, seed data, 32 connections.
READ_TARGETS = [
    ("technicians", 0.15),
    ("jobs-page", 0.15),
    ("job", 0.3),
    ("can-do", 0.3),
    ("best-technician", 0.3),
    ("summary", 0.5),
]
FIGURES = ["requests_per_sec", "operations_per_sec", "p50_ms", "p99_ms", "p999_ms", "max_ms"]


def load(path):
    runs, rss, populate, meta, streams = {}, {}, {}, {}, {}
    for line in open(path):
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        kind = row.get("kind")
        if kind == "rss":
            rss[(row["label"], row["phase"])] = row["vmhwm_kb"] / 1024
        elif kind == "populate":
            populate[row["label"]] = row
        elif kind == "meta":
            meta = row
        elif kind == "stream":
            streams.setdefault(row["label"], []).append(row)
        else:
            runs.setdefault((row["label"], row["scenario"], row["connections"]), []).append(row)
    medians = {}
    for key, rows in runs.items():
        m = {f: statistics.median(r[f] for r in rows) for f in FIGURES}
        m["errors"] = sum(r["errors"] for r in rows)
        m["conflicts"] = sum(r["conflicts"] for r in rows)
        m["requests"] = sum(r["requests"] for r in rows)
        m["runs"] = len(rows)
        medians[key] = m
    return medians, rss, populate, meta, streams


def stream_section(streams):
    if not streams:
        return []
    lines = [
        "## Event stream latency",
        "",
        "`fieldopt-load stream-latency`: the subscribers hold open `GET /api/v1/events/stream?types=job.created`; "
        "jobs are created one at a time at a steady rate; each latency runs from sending the `POST` to the "
        "event's arrival at one subscriber (an upper bound on commit → arrival: the commit happens inside "
        "the request, whose own latency is shown beside it).",
        "",
        "| data | subscribers | events | deliveries | missing | p50 ms | p99 ms | max ms | POST p50 ms | POST p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, rows in sorted(streams.items()):
        med = lambda f: statistics.median(r[f] for r in rows)
        lines.append(
            f"| {label} | {rows[0]['subscribers']} | {rows[0]['events']} | {sum(r['deliveries'] for r in rows)} "
            f"| {sum(r['missing'] for r in rows)} | {med('p50_ms'):.2f} | {med('p99_ms'):.2f} | {med('max_ms'):.1f} "
            f"| {med('post_p50_ms'):.2f} | {med('post_p99_ms'):.2f} |"
        )
    lines.append("")
    return lines


def ratio(medians, label, scenario, connections):
    row = medians.get((label, scenario, connections))
    health = medians.get((label, "healthz", connections))
    if not row or not health or not health["requests_per_sec"]:
        return None
    return row["requests_per_sec"] / health["requests_per_sec"]


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def verdict(ok):
    return "met" if ok else "**NOT met**"


def targets(medians, rss, fleet_jobs):
    lines = ["## Targets", ""]
    lines.append(
        "Issue 11, each throughput as a ratio to `/healthz` on the same server, data and connection "
        f"count. Read and write targets at {TARGET_CONNECTIONS} connections on the seed data. PostgreSQL is "
        "judged against half of each SQLite target ratio with p99 < 20 ms; its requests/s as a fraction of "
        "SQLite's in the same run is shown beside it."
    )
    lines.append("")
    c = TARGET_CONNECTIONS
    if ("sqlite/seed", "healthz", c) not in medians:
        lines.append(f"No SQLite seed measurement at {c} connections in this run: read targets not evaluated.")
    else:
        lines += [
            "| scenario | target | SQLite ratio | SQLite p99 ms | SQLite | PostgreSQL ratio (≥ half the target) "
            "| PostgreSQL / SQLite requests/s | PostgreSQL p99 ms (< 20) | PostgreSQL |",
            "|---|---|---:|---:|---|---:|---:|---:|---|",
        ]
        for scenario, minimum in READ_TARGETS:
            s = medians.get(("sqlite/seed", scenario, c))
            p = medians.get(("postgres/seed", scenario, c))
            s_ratio = ratio(medians, "sqlite/seed", scenario, c)
            p_ratio = ratio(medians, "postgres/seed", scenario, c)
            s_ok = s and s_ratio is not None and s_ratio >= minimum and s["p99_ms"] < 10
            p_ok = p and p_ratio is not None and p_ratio >= minimum / 2 and p["p99_ms"] < 20
            vs = p["requests_per_sec"] / s["requests_per_sec"] if s and p and s["requests_per_sec"] else None
            lines.append(
                f"| {scenario} | ≥ {minimum} ×, p99 < 10 ms | {fmt(s_ratio, 3)} | {fmt(s and s['p99_ms'])} "
                f"| {verdict(s_ok)} | {fmt(p_ratio, 3)} | {fmt(vs)} | {fmt(p and p['p99_ms'])} "
                f"| {verdict(p_ok) if p else '-'} |"
            )
        lines.append("")
    for backend, minimum, p99_max in [("sqlite", 3000, 20), ("postgres", 1500, None)]:
        w = medians.get((f"{backend}/seed", "assign-unassign", c))
        if not w:
            continue
        ok = w["requests_per_sec"] >= minimum and w["errors"] == 0
        target = f"≥ {minimum} requests/s"
        if p99_max:
            ok = ok and w["p99_ms"] < p99_max and w["max_ms"] <= 250
            target += f", p99 < {p99_max} ms, none over 250 ms"
        lines.append(
            f"- Writes, {backend}, assign + unassign at {c} connections ({target}): "
            f"{w['requests_per_sec']:.0f} requests/s, p99 {w['p99_ms']:.2f} ms, max {w['max_ms']:.1f} ms, "
            f"{w['errors']} errors: {verdict(ok)}."
        )
    for backend in ["sqlite", "postgres"]:
        label = f"{backend}/fleet"
        counts = sorted(k[2] for k in medians if k[0] == label and k[1] == "best-technician")
        if counts:
            # Client latency at the fewest connections is the closest to server time (an upper bound).
            b = medians[(label, "best-technician", counts[0])]
            lines.append(
                f"- Fleet, {backend}, best technician ≤ 5 ms p99 (client-measured at {counts[0]} "
                f"connection(s), an upper bound of server time): p99 {b['p99_ms']:.2f} ms: "
                f"{verdict(b['p99_ms'] <= 5)}."
            )
        hwm = rss.get((label, "reads"))
        if hwm is not None:
            lines.append(
                f"- Fleet, {backend}, peak RSS < 150 MB under the read mix: {hwm:.0f} MB: {verdict(hwm < 150)}."
            )
        seed_page = medians.get((f"{backend}/seed", "jobs-page", counts[0] if counts else 0))
        fleet_page = medians.get((label, "jobs-page", counts[0] if counts else 0))
        if seed_page and fleet_page and seed_page["p50_ms"]:
            growth = fleet_page["p50_ms"] / seed_page["p50_ms"]
            lines.append(
                f"- Fleet, {backend}, lists linear in the page (GET /jobs/?limit=100, p50 at {counts[0]} "
                f"connection(s), fleet {fleet_page['p50_ms']:.2f} ms vs seed {seed_page['p50_ms']:.2f} ms, "
                f"{fleet_jobs / 300:.0f} × the jobs): {growth:.2f} × as slow, target at most 2 ×: {verdict(growth <= 2)}."
            )
    return lines


def main():
    results, out = sys.argv[1], sys.argv[2]
    medians, rss, populate, meta, streams = load(results)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    cpu = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        platform.machine(),
    )
    smoke = meta.get("smoke") == 1
    # A machine's own absolute paths stay out of the committed report.
    binaries = meta.get("bin", "?")
    if os.path.isabs(binaries):
        binaries = "a directory outside the repository (BIN, " + os.path.basename(binaries) + " profile)"
    else:
        binaries = f"`{binaries}`"
    lines = [
        "# HTTP load benchmark" + (" (smoke)" if smoke else ""),
        "",
        f"Generated by `bench/load/run.sh` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit {commit}{' (with local changes)' if dirty else ''}, binaries from {binaries}.",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), shared by the server and the load driver, so absolute "
        "numbers are a floor and the ratios to `/healthz` are the comparable figures. Load average "
        f"(1, 5, 15 min) before the run {meta.get('load_before')}, after {meta.get('load_after')}; "
        f"the run took {meta.get('wall_seconds', 0) / 60:.1f} min.",
        "",
        f"Command: `{meta.get('command')}`",
        "",
        f"Each measurement: {meta.get('warmup_ms')} ms of warm-up, then {meta.get('runs')} consecutive "
        f"windows of {meta.get('seconds_per_run')} s; the tables show the median of each figure over the "
        "windows (requests/s, p50, p99, p99.9, max) and the errors and 409s summed. Latency is measured by "
        "the driver, per request, from send to the last byte of the body. `× healthz`: requests/s divided "
        "by GET `/healthz` requests/s on the same server at the same connection count. Errors are "
        "transport failures and non-2xx answers except 409.",
        "",
        "Data: `seed` = `fieldopt seed` (40 technicians, 300 jobs over today and tomorrow; today is "
        f"queried). `fleet` = {meta.get('fleet', ['?'] * 3)[0]} technicians and "
        f"{meta.get('fleet', ['?'] * 3)[1]} jobs over {meta.get('fleet', ['?'] * 3)[2]} days, created "
        "through the API by `fieldopt-load populate`; the first day is queried.",
        "",
        "Scenarios: `healthz` GET /healthz; `technicians` GET /api/v1/technicians/ (default page, 500); "
        "`jobs-by-date` GET /api/v1/jobs/?scheduled_date=D; `jobs-page` GET /api/v1/jobs/?limit=100; "
        "`job` GET /api/v1/jobs/{id}; `summary` GET /api/v1/jobs/summary; `can-do` GET "
        "/api/v1/jobs/{job}/can-do/{technician}; `best-technician` GET /api/v1/routing/best-tech/{job} "
        "(jobs: the day's pending ones, in turn); `plan` POST /api/v1/routing/plan for the day, "
        f"`apply: false`, `time_limit_ms: {meta.get('plan_time_limit_ms')}`, at few connections (the "
        "server runs as many plans at once as it has cores); `assign-unassign` POST /api/v1/assignments "
        "(force) then POST /api/v1/assignments/unassign, each connection on its own jobs: requests/s "
        "counts both requests, latencies are per request.",
        "",
    ]
    labels = sorted({k[0] for k in medians}, key=lambda l: (l.split("/")[1] != "seed", l.split("/")[0] != "sqlite", l))
    order = ["healthz", "technicians", "jobs-by-date", "jobs-page", "job", "summary", "can-do",
             "best-technician", "plan", "assign-unassign"]
    for label in labels:
        lines += [f"## {label}", ""]
        if label in populate:
            p = populate[label]
            lines += [f"Populated {p['technicians']} technicians and {p['jobs']} jobs over {p['days']} days "
                      f"through the API in {p['seconds']} s.", ""]
        lines += [
            "| scenario | connections | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | × healthz | errors | 409s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        keys = sorted((k for k in medians if k[0] == label), key=lambda k: (order.index(k[1]) if k[1] in order else 99, k[2]))
        for key in keys:
            m = medians[key]
            lines.append(
                f"| {key[1]} | {key[2]} | {m['requests_per_sec']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                f"{m['p999_ms']:.2f} | {m['max_ms']:.1f} | {fmt(ratio(medians, *key), 3)} | {m['errors']} | "
                f"{m['conflicts']} |"
            )
        lines.append("")
        reads, total = rss.get((label, "reads")), rss.get((label, "all"))
        lines += [f"Peak RSS of the server (VmHWM): {fmt(reads, 0)} MB after the reads, "
                  f"{fmt(total, 0)} MB after plans and writes.", ""]
    lines += stream_section(streams)
    lines += targets(medians, rss, meta.get("fleet", [0, 300, 0])[1])
    open(out, "w").write("\n".join(lines) + "\n")
    print("wrote", out)
    if smoke:
        bad = [f"{k[0]} {k[1]} at {k[2]}: {m['requests']} requests, {m['errors']} errors"
               for k, m in medians.items() if m["errors"] or not m["requests"]]
        bad += [f"{label} stream: {r['missing']} deliveries missing"
                for label, rows in streams.items() for r in rows if r["missing"]]
        if bad or not medians:
            print("smoke FAILED:\n  " + "\n  ".join(bad or ["no measurement"]), file=sys.stderr)
            sys.exit(1)
        print(f"smoke ok: {len(medians)} measurements, none with errors or without requests")


if __name__ == "__main__":
    main()
