#!/usr/bin/env python3
"""Webhooks: from a change's commit to the receiver's 2xx, under a steady stream of changes.

On the seeded workspace of one scale (100,000 clients unless told otherwise, the data folder that
bench/bench.py keeps in /var/tmp/crm-bench), with the release server (CRM_WEBHOOKS_ALLOW_PRIVATE=true,
its receiver being on loopback), it subscribes a receiver on loopback to `client.created`, then
creates clients at `--rate` a second for `--seconds`, each request sent on schedule from a pool of
threads. A change's latency runs from the moment its POST answered (the transaction committed just
before) to the moment the receiver got the delivery, which it answers 204 at once. Both clocks are
the machine's.

Writes the percentiles to docs/benchmarks-webhooks.md. Run it with bench/run.sh --webhooks, which
builds the release server first.
"""

import argparse
import json
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import (ROOT, OWNER_EMAIL, OWNER_PASSWORD, Api, Cluster, log, machine, prepare_data, start_server,
                   tune_cluster, wait_until_idle)


class Receiver(BaseHTTPRequestHandler):
    received = {}
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        at = time.time()
        record = json.loads(body)["data"]["record_id"]
        with Receiver.lock:
            Receiver.received.setdefault(record, at)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class ReceiverServer(ThreadingHTTPServer):
    # The standard library's backlog of 5 drops the connections of a burst of deliveries, and each
    # dropped SYN costs its sender a second or more: that would be the receiver's latency, not ours.
    request_queue_size = 1024
    daemon_threads = True


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--port", type=int, default=18494)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks-webhooks.md"))
    args = parser.parse_args()
    data_dir = Path("/var/tmp/crm-bench") / str(args.scale)
    prepare_data(data_dir, args.scale, args.port)
    tune_cluster(data_dir)
    receiver = ReceiverServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    os.environ["CRM_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    server = start_server(data_dir, args.port)
    cluster = Cluster(data_dir)
    base = f"http://127.0.0.1:{args.port}"
    api = Api(base)
    committed = {}
    try:
        token = api.login(OWNER_EMAIL, OWNER_PASSWORD)
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
        webhook = api.call("POST", "/api/v1/webhooks", token, {"url": url, "event_types": ["client.created"],
                                                               "description": "bench/webhooks.py"})
        wait_until_idle(cluster)
        run_id = int(time.time())
        total = args.rate * args.seconds
        started = time.time() + 0.5

        def create(n):
            delay = started + n / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            client = api.call("POST", "/api/v1/clients", token,
                              {"kind": "company", "name": f"Webhook bench {run_id}-{n}"})
            committed[client["id"]] = time.time()

        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(create, range(total)))
        sent_for = time.time() - started
        deadline = time.time() + 60
        while time.time() < deadline:
            with Receiver.lock:
                if all(record in Receiver.received for record in committed):
                    break
            time.sleep(0.1)
        api.call("DELETE", f"/api/v1/webhooks/{webhook['webhook']['id']}", token)
    finally:
        server.terminate()
        server.wait(timeout=30)
        receiver.shutdown()
    latencies = [(Receiver.received[record] - at) * 1000 for record, at in committed.items()
                 if record in Receiver.received]
    missing = len(committed) - len(latencies)
    p50, p90, p99 = (percentile(latencies, fraction) for fraction in (0.5, 0.9, 0.99))
    log(f"{len(latencies)} of {len(committed)} delivered; p50 {p50:.0f} ms, p90 {p90:.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(latencies):.0f} ms; {total / sent_for:.0f} changes/s sent")
    out = ["# Webhooks: from commit to the receiver", "",
           "Generated by `bench/run.sh --webhooks` (bench/webhooks.py; do not edit by hand).", "",
           f"At {args.scale:,} seeded clients: a receiver on loopback subscribed to `client.created`, and "
           f"{total:,} clients created at {args.rate} a second for {args.seconds} s (sent at "
           f"{total / sent_for:.0f}/s). Latency from the moment a POST answered (its transaction had committed) "
           "to the moment the receiver had the delivery; the server's worker looks for new changes every 200 ms.",
           "", f"Machine: {machine()}. Run {time.strftime('%Y-%m-%d')}.", "",
           "| delivered | missing | median | p90 | p99 | max |", "|---:|---:|---:|---:|---:|---:|",
           f"| {len(latencies):,} | {missing} | {statistics.median(latencies):.0f} ms | {p90:.0f} ms | "
           f"{p99:.0f} ms | {max(latencies):.0f} ms |", ""]
    Path(args.output).write_text("\n".join(out))
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
