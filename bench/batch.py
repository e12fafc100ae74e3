#!/usr/bin/env python3
"""Batches against single requests: how fast an integration can push clients.

On the seeded workspace of one scale (100,000 clients unless told otherwise, the data folder that
bench/bench.py keeps in /var/tmp/crm-bench), it measures:

- single creates: `POST /clients` with wrk at `--connections` for `--duration` seconds (a unique
  person each time), the throughput an integration gets one request at a time;
- single upserts: `PUT /clients/by-ref/{system}/{id}` of new refs the same way;
- batches: `POST /clients/batch` of 1,000 upserts by new refs (each creates a client), the same
  1,000 again with a changed field (each updates one), and the same again unchanged (each writes
  nothing), `--rounds` times each, one batch at a time, timed end to end by the client;
- two batches at once: two integration workers each sending a batch of 1,000 upserts that create,
  timed together (the clients both wrote, over the time both took): a batch runs on one core, and
  this machine has two;
- deal batches: `POST /deals/batch` of 1,000 orders upserted by new order numbers, each for one of
  the round's customers by its ref (`client_ref`) with a line of a product named by ref, then the
  same 1,000 again unchanged; these run one operation at a time (no read-ahead).

Writes the medians and the ratios to docs/benchmarks-batch.md. Run it with bench/run.sh --batch,
which builds the release server first.
"""

import argparse
import json
import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import (ROOT, OWNER_EMAIL, OWNER_PASSWORD, Api, Cluster, log, machine, prepare_data, run_wrk,
                   scheduler_autogroup_off, start_server, tune_cluster, wait_until_idle)

WRK = Path(__file__).resolve().parent / "wrk"
BATCH = 1000


def upserts(run_id, round_number, surname):
    """1,000 upserts of persons the shop knows as `<run>-<round>-<n>`."""
    return {"operations": [
        {"op": "upsert", "external_ref": {"system": "bench-shop", "id": f"{run_id}-{round_number}-{n}"},
         "body": {"kind": "person", "first_name": f"Покупатель{n}", "last_name": surname,
                  "emails": [{"value": f"buyer-{run_id}-{round_number}-{n}@shop.example"}],
                  "phones": [{"value": f"+7 9{(run_id % 10_000) * 100_000 + round_number * 1000 + n:09d}"}],
                  "tags": ["e-shop"], "source": "website"}}
        for n in range(BATCH)]}


def orders(run_id, round_number):
    """1,000 orders of the round's customers, each upserted by its number, with one line."""
    return {"operations": [
        {"op": "upsert", "external_ref": {"system": "bench-shop", "id": f"order-{run_id}-{round_number}-{n}"},
         "body": {"title": f"Order {n}", "currency": "RUB",
                  "client_ref": {"system": "bench-shop", "id": f"{run_id}-{round_number}-{n}"},
                  "items": [{"product_ref": {"system": "bench-shop", "id": f"tea-{run_id}"}, "quantity": "2"}]}}
        for n in range(BATCH)]}


def send_batch(base, token, body, resource="clients"):
    """Seconds one batch took, end to end, and its results' statuses."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1/{resource}/batch", data=data, method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {token}")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    elapsed = time.perf_counter() - started
    statuses = {}
    for result in answer["results"]:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    return elapsed, statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18490)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks-batch.md"))
    args = parser.parse_args()
    with scheduler_autogroup_off():
        results = measure(args)
    Path(args.output).write_text(report(args, results))
    log(f"wrote {args.output}")


def measure(args):
    data_dir = Path("/var/tmp/crm-bench") / str(args.scale)
    prepare_data(data_dir, args.scale, args.port)
    tune_cluster(data_dir)
    server = start_server(data_dir, args.port)
    cluster = Cluster(data_dir)
    base = f"http://127.0.0.1:{args.port}"

    def settle():
        # Each phase starts from a clean slate: the previous one's writes checkpointed, so that its
        # WAL flushes and dirty pages don't land on the next (they took a single upsert's p99 from
        # 35 ms to 1.1 s once).
        wait_until_idle(cluster)
        cluster.psql("CHECKPOINT")

    try:
        token = Api(base).login(OWNER_EMAIL, OWNER_PASSWORD)
        run_id = int(time.time())
        settle()
        log("single creates")
        single = run_wrk(f"{base}/api/v1/clients", WRK / "create.lua", [token, str(run_id)], args)
        settle()
        log("single upserts")
        single_upsert = run_wrk(f"{base}/api/v1/clients", WRK / "create.lua", [token, str(run_id), "upsert"], args)
        settle()
        batches = {"create": [], "update": [], "unchanged": []}
        statuses = {}
        for round_number in range(args.rounds):
            log(f"batch round {round_number + 1} of {args.rounds}")
            for phase, surname in [("create", "Первый"), ("update", "Второй"), ("unchanged", "Второй")]:
                elapsed, answered = send_batch(base, token, upserts(run_id, round_number, surname))
                batches[phase].append(elapsed)
                statuses.setdefault(phase, {})
                for status, count in answered.items():
                    statuses[phase][status] = statuses[phase].get(status, 0) + count
        for round_number in range(args.rounds):
            log(f"two batches at once, round {round_number + 1} of {args.rounds}")
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=2) as pool:
                pair = [pool.submit(send_batch, base, token, upserts(run_id, args.rounds + 2 * round_number + worker, "Пара"))
                        for worker in range(2)]
                answered = [future.result()[1] for future in pair]
            batches.setdefault("pair", []).append(time.perf_counter() - started)
            for status, count in [item for one in answered for item in one.items()]:
                statuses.setdefault("pair", {})
                statuses["pair"][status] = statuses["pair"].get(status, 0) + count
        tea = {"sku": f"BENCH-TEA-{run_id}", "name": "Green tea", "price": "490.00", "currency": "RUB"}
        product = {"operations": [{"op": "upsert", "external_ref": {"system": "bench-shop", "id": f"tea-{run_id}"},
                                   "body": tea}]}
        send_batch(base, token, product, "products")
        settle()
        for round_number in range(args.rounds):
            log(f"deal batch round {round_number + 1} of {args.rounds}")
            for phase in ["deals", "deals unchanged"]:
                elapsed, answered = send_batch(base, token, orders(run_id, round_number), "deals")
                batches.setdefault(phase, []).append(elapsed)
                statuses.setdefault(phase, {})
                for status, count in answered.items():
                    statuses[phase][status] = statuses[phase].get(status, 0) + count
        return {"single": single, "single_upsert": single_upsert, "batches": batches, "statuses": statuses}
    finally:
        server.terminate()
        server.wait(timeout=30)


def report(args, results):
    single = results["single"]
    out = ["# Batches", "",
           "Generated by `bench/run.sh --batch` (bench/batch.py; do not edit by hand).", "",
           f"At {args.scale:,} seeded clients. Single requests: wrk, {args.connections} connections, "
           f"{args.duration} s each, a new person per request. Batches: `POST /clients/batch` of {BATCH:,} upserts "
           f"by new refs (each creates a client with an email, a phone and a tag), the same {BATCH:,} with a new "
           f"surname (each updates one), and the same again (each finds nothing to change and writes nothing); "
           f"{args.rounds} rounds, one batch at a time, timed end to end by the client. Throughputs are clients "
           "written (or checked) a second.", "",
           f"Machine: {machine()}. Run {time.strftime('%Y-%m-%d')}.", "",
           "| how | clients/s | median time | p99 latency (single) | vs single POST |",
           "|---|---:|---:|---:|---:|"]
    out.append(f"| single `POST /clients` | {single['rps']:,.0f} | {single['p50']:.1f} ms | {single['p99']:.1f} ms | 1.0x |")
    upsert = results["single_upsert"]
    out.append(f"| single `PUT /clients/by-ref/…` (new) | {upsert['rps']:,.0f} | {upsert['p50']:.1f} ms "
               f"| {upsert['p99']:.1f} ms | {upsert['rps'] / single['rps']:.1f}x |")
    for phase, label in [("create", "creates"), ("update", "updates"), ("unchanged", "unchanged")]:
        median = statistics.median(results["batches"][phase])
        rate = BATCH / median
        answered = ", ".join(f"{status}: {count}" for status, count in sorted(results["statuses"][phase].items()))
        out.append(f"| batch of {BATCH:,} upserts, {label} ({answered}) | {rate:,.0f} | {median * 1000:,.0f} ms | - "
                   f"| {rate / single['rps']:.1f}x |")
    median = statistics.median(results["batches"]["pair"])
    rate = 2 * BATCH / median
    answered = ", ".join(f"{status}: {count}" for status, count in sorted(results["statuses"]["pair"].items()))
    out.append(f"| two batches of {BATCH:,} upserts at once, creates ({answered}) | {rate:,.0f} | {median * 1000:,.0f} ms "
               f"| - | {rate / single['rps']:.1f}x |")
    out += ["", f"Deal batches (`POST /deals/batch`, one operation at a time): {BATCH:,} orders upserted by new order "
            "numbers, each for one of the round's new customers by `client_ref` with one line of a product by "
            f"`product_ref`, then the same {BATCH:,} again (nothing to change). Throughputs are deals a second.", "",
            "| how | deals/s | median time |", "|---|---:|---:|"]
    for phase, label in [("deals", "creates"), ("deals unchanged", "unchanged")]:
        median = statistics.median(results["batches"][phase])
        answered = ", ".join(f"{status}: {count}" for status, count in sorted(results["statuses"][phase].items()))
        out.append(f"| batch of {BATCH:,} order upserts, {label} ({answered}) | {BATCH / median:,.0f} | "
                   f"{median * 1000:,.0f} ms |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
