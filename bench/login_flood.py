#!/usr/bin/env python3
"""A login flood against the release server: what it does to everyone else's requests and to the
server's memory.

A few "colleagues" read the API in a closed loop (their own profile and a page of clients) while
many attackers send wrong passwords as fast as the server answers. Each attacker changes its source
address (127.x.y.z, all loopback) before the per-address throttle would stop it and tries a new
email each time, so that every attempt is a real password check: the worst case, a distributed
guessing attack. Three phases, each `--duration` seconds: before, during and after the flood.
Writes the colleagues' median and p99 latency per phase, the server's peak memory, and what the
attackers got to docs/benchmarks-login-flood.md.

Run it with bench/run.sh --login-flood, which builds the release server first.
"""

import argparse
import http.client
import json
import shutil
import statistics
import threading
import time
import uuid
from pathlib import Path

from bench import (BINARY, OWNER_EMAIL, OWNER_PASSWORD, ROOT, Api, environment, log, machine, run,
                   scheduler_autogroup_off, start_server)

# Below the per-address limit (20 failures), so the address is never locked.
ATTEMPTS_PER_ADDRESS = 15


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Phase:
    def __init__(self, name):
        self.name = name
        self.latencies = []
        self.peak_rss = 0.0
        self.attempts = {}


def colleague(port, token, stop, phase_of):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"authorization": f"Bearer {token}"}
    paths = ["/api/v1/me", "/api/v1/clients?limit=20"]
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status} to a colleague")
        phase_of().latencies.append(elapsed)


def attacker(port, number, stop, phase_of):
    """Wrong passwords for ever-new emails, from a new source address every few attempts."""
    conn = None
    for attempt in range(10**9):
        if stop.is_set():
            break
        if conn is None or attempt % ATTEMPTS_PER_ADDRESS == 0:
            if conn:
                conn.close()
            rotation = attempt // ATTEMPTS_PER_ADDRESS
            address = f"127.{number % 250 + 1}.{rotation // 250 % 250 + 1}.{rotation % 250 + 1}"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(address, 0))
        body = json.dumps({"email": f"{uuid.uuid4().hex}@flood.example", "password": "not-the-password"})
        try:
            conn.request("POST", "/api/v1/auth/login", body=body, headers={"content-type": "application/json"})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
            conn.close()
            conn = None
        counts = phase_of().attempts
        counts[status] = counts.get(status, 0) + 1


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--colleagues", type=int, default=4)
    parser.add_argument("--attackers", type=int, default=200)
    parser.add_argument("--port", type=int, default=18480)
    parser.add_argument("--clients", type=int, default=1000, help="clients seeded for the colleagues' list page")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks-login-flood.md"))
    args = parser.parse_args()
    with scheduler_autogroup_off():
        rows = measure(args)
    Path(args.output).write_text(report(args, rows))
    log(f"wrote {args.output}")


def measure(args):

    data_dir = Path("/var/tmp/crm-login-flood")
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**environment(data_dir, args.port), "CRM_OWNER_PASSWORD": OWNER_PASSWORD}
    workspace = run([str(BINARY), "workspace", "create", "--name", "Flood", "--owner-email", OWNER_EMAIL],
                    env=env, capture_output=True, text=True).stdout.strip()
    run([str(BINARY), "seed", "--workspace", workspace, "--clients", str(args.clients), "--seed", "1"],
        env=environment(data_dir, args.port), capture_output=True)
    server = start_server(data_dir, args.port)
    try:
        token = Api(f"http://127.0.0.1:{args.port}").login(OWNER_EMAIL, OWNER_PASSWORD)
        phases = [Phase("before"), Phase("flood"), Phase("after")]
        current = [phases[0]]
        stop_all = threading.Event()
        stop_attack = threading.Event()
        threads = [threading.Thread(target=colleague, args=(args.port, token, stop_all, lambda: current[0]),
                                    daemon=True) for _ in range(args.colleagues)]
        for thread in threads:
            thread.start()
        for index, phase in enumerate(phases):
            current[0] = phase
            log(f"phase {phase.name}")
            if phase.name == "flood":
                attackers = [threading.Thread(target=attacker, args=(args.port, n, stop_attack, lambda: current[0]),
                                              daemon=True) for n in range(args.attackers)]
                for thread in attackers:
                    thread.start()
            deadline = time.monotonic() + args.duration
            while time.monotonic() < deadline:
                phase.peak_rss = max(phase.peak_rss, rss_mb(server.pid))
                time.sleep(0.1)
            if phase.name == "flood":
                stop_attack.set()
                # The attackers' last requests are still queued for a hashing slot: the "after"
                # phase starts once they are answered.
                for thread in attackers:
                    thread.join(timeout=180)
        stop_all.set()
        for thread in threads:
            thread.join(timeout=60)

        return phases
    finally:
        server.terminate()
        server.wait(timeout=30)


def report(args, phases):
    base_p99 = percentile(phases[0].latencies, 0.99)
    out = ["# Login flood", "",
           "Generated by `bench/run.sh --login-flood` (bench/login_flood.py; do not edit by hand).", "",
           f"{args.colleagues} colleagues read the API in a closed loop (`GET /me` and a page of 20 clients, "
           f"{args.clients} clients seeded) for {args.duration} s before, during and after a flood of "
           f"{args.attackers} concurrent attackers sending wrong passwords, each from a new loopback source "
           "address every 15 attempts and for a new email every time, so that the per-address and per-account "
           "throttles never lock and every attempt costs a full argon2 verification: the worst case, a "
           "distributed guessing attack. The load generator (Python) shares the machine. Peak RSS is the API "
           "server's resident memory, sampled every 0.1 s.", "",
           f"Machine: {machine()}. Run {time.strftime('%Y-%m-%d')}.", "",
           "| phase | colleagues' requests | median | p99 | p99 vs before | server peak RSS | attackers' answers |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for phase in phases:
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(phase.attempts.items(), key=str))
        p99 = percentile(phase.latencies, 0.99)
        out.append(f"| {phase.name} | {len(phase.latencies)} | {statistics.median(phase.latencies) * 1000:.1f} ms "
                   f"| {p99 * 1000:.1f} ms | {p99 / base_p99:.2f}x | {phase.peak_rss:.0f} MB | {answers or '-'} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
