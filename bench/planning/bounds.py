#!/usr/bin/env python3
"""What one day plan costs the server: wall time and peak memory of a plan
at 1000, 3000 and 5000 jobs, and /healthz latency while the most plans the
server allows run at once. Prints a Markdown section for docs/benchmarks.md.

    cargo build --release --locked -p fieldopt-server -p fieldopt-bench
    python3 bench/planning/bounds.py [--sizes 1000,3000,5000] [--limits 10,2000,10000]
"""
import argparse, http.client, json, os, subprocess, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release"
PORT = 18091
DAY = "2031-02-03"


def call(method, path, body=None, timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data or b"null")


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(workdir):
    env = dict(os.environ, DATABASE_URL=f"sqlite://{workdir}/day.db", FIELDOPT_BIND=f"127.0.0.1:{PORT}",
               RUST_LOG="warn", FIELDOPT_RATE_LIMIT_RPS="0")
    server = subprocess.Popen([str(BIN / "fieldopt"), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            call("GET", "/readyz")
            return server
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def populate(technicians, jobs):
    subprocess.run([str(BIN / "fieldopt-load"), "populate", "--url", f"http://127.0.0.1:{PORT}",
                    "--technicians", str(technicians), "--jobs", str(jobs), "--date", DAY], check=True,
                   stdout=subprocess.DEVNULL)


def healthz_latencies(count):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
    conn.close()
    return latencies


def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,3000,5000")
    ap.add_argument("--limits", default="10,2000,10000", help="time_limit_ms values to try per size")
    args = ap.parse_args()
    rows = []
    concurrency = None
    for jobs in [int(n) for n in args.sizes.split(",")]:
        technicians = max(20, jobs // 5)
        workdir = tempfile.mkdtemp()
        server = start(workdir)
        try:
            populate(technicians, jobs)
            before = rss_mb(server.pid)
            for limit in [int(n) for n in args.limits.split(",")]:
                started = time.perf_counter()
                status, plan = call("POST", "/api/v1/routing/plan", {"scheduled_date": DAY, "time_limit_ms": limit})
                wall = time.perf_counter() - started
                assert status == 200, plan
                reasons = {}
                for u in plan["unassigned"]:
                    code = u["reasons"][0].split(":")[0]
                    reasons[code] = reasons.get(code, 0) + 1
                rows.append(f"| {jobs} | {technicians} | {limit} | {wall:.2f} | {plan['totals']['jobs_assigned']} | "
                            f"{', '.join(f'{k} {v}' for k, v in sorted(reasons.items())) or '-'} | "
                            f"{before:.0f} | {peak_rss_mb(server.pid):.0f} |")
                print(rows[-1], flush=True)
            if jobs == 3000:
                # As many plans as the server allows (its cores), and /healthz meanwhile.
                plans = os.cpu_count() or 2
                idle = healthz_latencies(2000)
                done = []

                def one_plan():
                    done.append(call("POST", "/api/v1/routing/plan", {"scheduled_date": DAY, "time_limit_ms": 10000})[0])

                threads = [threading.Thread(target=one_plan) for _ in range(plans)]
                for t in threads:
                    t.start()
                time.sleep(0.5)
                # One more than allowed is turned away at once.
                extra = call("POST", "/api/v1/routing/plan", {"scheduled_date": DAY, "time_limit_ms": 10})[0]
                busy = []
                while any(t.is_alive() for t in threads):
                    busy.extend(healthz_latencies(200))
                for t in threads:
                    t.join()
                concurrency = (plans, done, idle, busy, extra)
        finally:
            server.terminate()
            server.wait()
    print()
    print("| jobs | technicians | time_limit_ms | request wall s | planned | left out (first reason) | RSS before MB | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    if concurrency:
        plans, done, idle, busy, extra = concurrency
        print(f"\n{plans} concurrent 10 s plans of the 3000-job day (statuses {sorted(done)}); "
              f"/healthz idle p50 {p(idle, 0.5):.2f} ms p99 {p(idle, 0.99):.2f} ms ({len(idle)} requests), "
              f"during the plans p50 {p(busy, 0.5):.2f} ms p99 {p(busy, 0.99):.2f} ms ({len(busy)} requests); "
              f"one more plan meanwhile: {extra}.")


if __name__ == "__main__":
    main()
