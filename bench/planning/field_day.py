#!/usr/bin/env python3
"""A field-service day through the API: 200 technicians, 1000 jobs with
skills, areas and slots, planned by POST /routing/plan, every rule checked
here independently of the engine. Appends its result to
docs/planning-benchmarks.md.

    cargo build --release --locked -p fieldopt-server -p fieldopt-bench
    python3 bench/planning/field_day.py
"""
import json, os, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release"
PORT = 18090
DAY = "2031-02-03"
URL = f"http://127.0.0.1:{PORT}"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def minutes(clock):
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def check(plan, techs, jobs):
    techs = {t["id"]: t for t in techs}
    jobs = {j["id"]: j for j in jobs}
    problems, seen = [], set()
    for route in plan["routes"]:
        t = techs[route["technician_id"]]
        stops = route["stops"]
        if len(stops) > t["capacity"]:
            problems.append(f"tech {t['id']} over capacity")
        clock = minutes(t["shift_start"])
        for s in stops:
            j = jobs[s["job_id"]]
            if j["id"] in seen:
                problems.append(f"job {j['id']} twice")
            seen.add(j["id"])
            if not set(j["skills_required"]) <= set(t["skills"]):
                problems.append(f"job {j['id']}: skills")
            if j["area"] and t["areas"] and j["area"] not in t["areas"]:
                problems.append(f"job {j['id']}: area")
            a, st, en = minutes(s["arrival"]), minutes(s["start"]), minutes(s["end"])
            if not (clock - 1 <= a <= st + 1 and st < en):
                problems.append(f"job {j['id']}: times out of order")
            if j["time_slot"]:
                lo, hi = (minutes(x) for x in j["time_slot"].split("-"))
                if st < lo - 1 or st > hi + 1:
                    problems.append(f"job {j['id']}: starts outside its slot")
            if en > minutes(t["shift_end"]) + 1:
                problems.append(f"job {j['id']}: after the shift")
            clock = en
    for u in plan["unassigned"]:
        if u["job_id"] in seen:
            problems.append(f"job {u['job_id']} both planned and unassigned")
        seen.add(u["job_id"])
    if seen != set(jobs):
        problems.append("some jobs are neither planned nor unassigned")
    return problems


def main():
    workdir = tempfile.mkdtemp()
    env = dict(os.environ, DATABASE_URL=f"sqlite://{workdir}/day.db", FIELDOPT_BIND=f"127.0.0.1:{PORT}", RUST_LOG="warn",
               FIELDOPT_RATE_LIMIT_RPS="0")
    server = subprocess.Popen([str(BIN / "fieldopt"), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                call("GET", "/readyz")
                break
            except Exception:
                time.sleep(0.1)
        subprocess.run([str(BIN / "fieldopt-load"), "populate", "--url", URL, "--technicians", "200", "--jobs", "1000",
                        "--date", DAY], check=True)
        techs = call("GET", "/api/v1/technicians?limit=5000")
        jobs = call("GET", f"/api/v1/jobs?scheduled_date={DAY}&limit=5000")
        started = time.time()
        plan = call("POST", "/api/v1/routing/plan", {"scheduled_date": DAY, "time_limit_ms": 4000})
        wall = time.time() - started
        problems = check(plan, techs, jobs)
        reasons = {}
        for u in plan["unassigned"]:
            for r in u["reasons"]:
                code = r.split(":")[0]
                reasons[code] = reasons.get(code, 0) + 1
        text = (
            "\n## A field-service day through the API\n\n"
            f"Command: `python3 bench/planning/field_day.py` (release build, SQLite). 200 technicians and 1000 jobs "
            f"created by `fieldopt-load populate` (skills, areas, slots, priorities, positions around New York), then "
            f"`POST /api/v1/routing/plan` with `time_limit_ms: 4000`.\n\n"
            f"- wall time of the request: **{wall:.2f} s** (server-reported `elapsed_ms` {plan['elapsed_ms']}); target ≤ 5 s: "
            f"{'met' if wall <= 5 else 'NOT met'}\n"
            f"- jobs planned {plan['totals']['jobs_assigned']}, left out {plan['totals']['jobs_unassigned']} "
            f"(reasons: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items())) or 'none'}), travel {plan['totals']['travel_km']:.1f} km\n"
            f"- independent check of every rule (skills, areas, capacity, slots, shifts, order of times, each job once): "
            f"{'no violations' if not problems else str(len(problems)) + ' violations: ' + '; '.join(problems[:5])}\n"
        )
        print(text)
        with open(ROOT / "docs" / "planning-benchmarks.md", "a") as f:
            f.write(text)
        sys.exit(1 if problems else 0)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
