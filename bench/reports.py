#!/usr/bin/env python3
"""Reports: how fast `GET /reports/...` answers over the seeded base.

On the seeded workspace of one scale (1,000,000 clients unless told otherwise: 3M deals, the data
folder bench/bench.py keeps in /var/tmp/crm-bench), it runs each report scenario with wrk at 16
connections (the issue's bar: p99 under 200 ms) and writes docs/benchmarks-reports.md. The first
run on a folder seeded before the sales lines existed fills them (`crm migrate`), which takes a
few minutes at 1M clients.

Run it with bench/run.sh --reports, which builds the release server first.
"""

import argparse
import datetime
import statistics
import tempfile
import time
from pathlib import Path

from bench import (BINARY, ROOT, OWNER_EMAIL, OWNER_PASSWORD, Api, Cluster, environment, log, machine,
                   prepare_data, run, run_wrk, start_server, team_manager, tune_cluster, wait_until_idle)

SCRIPT = ROOT / "bench" / "wrk" / "paths.lua"
SLOWEST_UNDER_LOAD_MS = 2000


def scenarios(today):
    """(name, path, viewer) of each scenario: the ranges an owner asks for, up to three years; then what
    a sales rep (their own clients) and a manager (a tenth of the reps) see of the common ones."""
    three_years = (today - datetime.timedelta(days=3 * 365)).replace(day=1)
    year = today.replace(month=1, day=1)
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    last_month_end = today.replace(day=1) - datetime.timedelta(days=1)
    sales = "/api/v1/reports/sales"
    activity = "/api/v1/reports/activity"
    by_owner = [
        ("sales, 3 years by month", f"{sales}?from={three_years}&to={today}&interval=month"),
        ("sales, 3 years by month and owner", f"{sales}?from={three_years}&to={today}&interval=month&group_by=owner"),
        ("sales, 3 years by quarter and product group",
         f"{sales}?from={three_years}&to={today}&interval=quarter&group_by=product_group"),
        ("sales, this year by month vs the year before",
         f"{sales}?from={year}&to={today}&interval=month&compare=previous_year"),
        ("funnel, deals created this year", f"/api/v1/reports/funnel?from={year}&to={today}"),
        ("forecast, 6 months", "/api/v1/reports/forecast?months=6"),
        ("forecast, 6 months by team", "/api/v1/reports/forecast?months=6&group_by=team"),
        ("forecast, 6 months by owner", "/api/v1/reports/forecast?months=6&group_by=owner"),
        ("activity, last month by owner", f"{activity}?from={last_month}&to={last_month_end}&group_by=owner"),
        ("activity, last month by team", f"{activity}?from={last_month}&to={last_month_end}&group_by=team"),
        ("activity, this month (today included)", activity),
        ("activity, this month by owner", f"{activity}?group_by=owner"),
        ("activity, 3 years by team", f"{activity}?from={three_years}&to={today}&group_by=team"),
        ("activity, 3 years by owner", f"{activity}?from={three_years}&to={today}&group_by=owner"),
        ("seasonality, 3 years by product group", "/api/v1/reports/seasonality?years=3&group_by=product_group"),
        ("clients, this year by month", f"/api/v1/reports/clients?from={year}&to={today}&interval=month"),
        ("clients, 3 years by quarter",
         f"/api/v1/reports/clients?from={three_years}&to={today}&interval=quarter"),
        ("clients, this year by week", f"/api/v1/reports/clients?from={year}&to={today}&interval=week"),
        ("sales, last month by day and product",
         f"{sales}?from={last_month}&to={last_month_end}&interval=day&group_by=product"),
    ]
    seen_in_part = [
        ("sales, 3 years by month", f"{sales}?from={three_years}&to={today}&interval=month"),
        ("sales, this year by month and owner", f"{sales}?from={year}&to={today}&interval=month&group_by=owner"),
        ("funnel, deals created this year", f"/api/v1/reports/funnel?from={year}&to={today}"),
        ("forecast, 6 months", "/api/v1/reports/forecast?months=6"),
        ("activity, last month", f"{activity}?from={last_month}&to={last_month_end}"),
        ("seasonality, 3 years", "/api/v1/reports/seasonality?years=3"),
        ("clients, this year by month", f"/api/v1/reports/clients?from={year}&to={today}&interval=month"),
    ]
    return ([(name, path, "owner") for name, path in by_owner]
            + [(f"{name}, as a {viewer}", path, viewer) for viewer in ("rep", "manager")
               for name, path in seen_in_part])


def wait_for_report_cells(cluster):
    """Waits until the server's job has written the sales, activity, client and funnel cells of every
    stale day (all of them on the first run after the migration that added a kind); gives how long
    that took."""
    started = time.monotonic()
    stale = ("SELECT (SELECT count(*) FROM sales_cells_stale) + (SELECT count(*) FROM activity_cells_stale)"
             " + (SELECT count(*) FROM client_cells_stale) + (SELECT count(*) FROM funnel_cells_stale)")
    while int(cluster.psql(stale)) > 0:
        time.sleep(2)
    cluster.psql("VACUUM ANALYZE sales_cells, activity_cells, client_cells, funnel_cells")
    seconds = time.monotonic() - started
    log(f"report cells written in {seconds:.0f} s")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18494)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks-reports.md"))
    args = parser.parse_args()
    data_dir = Path("/var/tmp/crm-bench") / str(args.scale)
    prepare_data(data_dir, args.scale, args.port)
    tune_cluster(data_dir)
    log("migrating (fills the sales lines of a folder seeded before them)")
    started = time.monotonic()
    run([str(BINARY), "migrate"], env=environment(data_dir, args.port))
    log(f"migrated in {time.monotonic() - started:.0f} s")
    server = start_server(data_dir, args.port)
    cluster = Cluster(data_dir)
    base = f"http://127.0.0.1:{args.port}"
    results = []
    try:
        api = Api(base)
        owner = api.login(OWNER_EMAIL, OWNER_PASSWORD)
        # The same reps bench.py puts in the manager's department.
        reps = cluster.psql("SELECT id FROM users WHERE email LIKE 'seed-sales-%'").split()
        tokens = {"owner": owner, "rep": api.login("seed-sales-1@seed.example", "seed-password-1"),
                  "manager": team_manager(api, owner, reps[: max(2, len(reps) // 10)])}
        cluster.psql("VACUUM ANALYZE sales_lines")
        cells_seconds = wait_for_report_cells(cluster)
        wait_until_idle(cluster)
        lines = int(cluster.psql("SELECT count(*) FROM sales_lines"))
        today = datetime.date.today()
        for name, path, viewer in scenarios(today):
            token = tokens[viewer]
            with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as paths:
                paths.write(path + "\n")
            single = []
            for _ in range(3):
                started = time.perf_counter()
                Api(base).call("GET", path, token)
                single.append((time.perf_counter() - started) * 1000)
            alone = statistics.median(single)
            # Under load a report slower than this alone only times out: wrk's numbers would say nothing.
            result = run_wrk(base, SCRIPT, [paths.name, token], args) if alone < SLOWEST_UNDER_LOAD_MS else None
            log(f"{name}: alone {alone:.0f} ms; under load {result}")
            results.append((name, path, alone, result))
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = ["# Reports", "",
           "Generated by `bench/run.sh --reports` (bench/reports.py; do not edit by hand).", "",
           f"At {args.scale:,} seeded clients ({lines:,} sales lines: the lines of the won deals), each report "
           f"requested with wrk at {args.connections} connections for {args.duration} s: by the owner (every deal "
           "counts), then the common ones by a sales rep (seed-sales-1, seeing their own clients and deals: about "
           "0.2% of the base) and by a manager (seeing a department of a tenth of the reps). "
           "The target is a p99 under 200 ms.", "",
           "Every report but the forecast (which adds up the open deals' running totals) adds up the report cells "
           "(docs/reports.md), which the server's job had written before the scenarios ran: "
           f"{cells_seconds:.0f} s from the start of the "
           "server on this run (on the first run after the migration that added a kind of cells, the cells of "
           "every day; else only the days changed since). The activity report counts today's overdue activities "
           "when asked (no writes ran during the scenarios, so today's cell was up to date).", "",
           f"Machine: {machine()}. Run {time.strftime('%Y-%m-%d')}.", "",
           "Each scenario is first timed alone (the median of 3 requests); under load only when one request alone "
           f"takes less than {SLOWEST_UNDER_LOAD_MS / 1000:.0f} s, since slower ones only time out there.", "",
           "| scenario | alone | p50 under load | p99 under load | req/s | non-2xx |", "|---|---:|---:|---:|---:|---:|"]
    for name, _, alone, r in results:
        if r is None:
            out.append(f"| {name} | {alone:,.0f} ms | not run | not run | | |")
        else:
            out.append(f"| {name} | {alone:,.0f} ms | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['rps']:.1f} | "
                       f"{r['non_2xx']} |")
    out += ["", "Paths (relative to the run's day):", ""]
    out += [f"- {name}: `{path}`" for name, path, _, _ in results]
    out.append("")
    Path(args.output).write_text("\n".join(out))
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
