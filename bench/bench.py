#!/usr/bin/env python3
"""Load benchmarks of the CRM API, and the database ceiling under them.

For each scale (number of clients) it starts the release server on its own embedded PostgreSQL,
seeds a workspace with `crm seed` (kept between runs), drives every scenario with wrk at a fixed
concurrency for a fixed time, and runs pgbench with the exact SQL the endpoint issued (captured from
PostgreSQL's statement log) at the same concurrency, to report the API's throughput as a fraction
of that ceiling. Writes docs/benchmarks.md.

Run it with bench/run.sh, which installs wrk and builds the server first.
"""

import argparse
import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "crm"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
OWNER_EMAIL = "bench-owner@bench.example"
OWNER_PASSWORD = "bench-owner-password-1"
SEED = 1
# Requests address SAMPLE clients spread over the whole table, the same ones in wrk and pgbench.
SAMPLE = 5000
SAMPLE_STRIDE = 7919


def log(message):
    print(f"[bench {datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class Cluster:
    """The embedded cluster of one scale's data folder, reached as the postgres user."""

    def __init__(self, data_dir):
        self.socket_dir = data_dir / "postgres"
        self.log_file = data_dir / "postgres" / "postgres.log"

    def command(self, tool, *args):
        base = [str(PG_BIN / tool) if (PG_BIN / tool).exists() else tool, *args]
        return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + base

    def psql(self, sql):
        result = subprocess.run(
            self.command("psql", "-h", str(self.socket_dir), "-d", "crm", "-X", "-At", "-v", "ON_ERROR_STOP=1"),
            input=sql, check=True, capture_output=True, text=True)
        return result.stdout.strip()


DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"

class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, token=None, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=300) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def login(self, email, password):
        return self.call("POST", "/api/v1/auth/login", body={"email": email, "password": password})["access_token"]


def team_manager(api, owner, reps):
    """A manager of a branch whose department holds `reps`, made once; returns their token."""
    email = "bench-manager@seed.example"
    teams = {team["name"]: team for team in api.call("GET", "/api/v1/teams?limit=200", owner)["data"]}
    branch = teams.get("Bench branch") or api.call("POST", "/api/v1/teams", owner, {"name": "Bench branch"})
    department = teams.get("Bench department") or api.call(
        "POST", "/api/v1/teams", owner, {"name": "Bench department", "parent_id": branch["id"]})
    for rep in reps:
        api.call("PATCH", f"/api/v1/users/{rep}", owner, {"team_id": department["id"]})
    try:
        return api.login(email, "seed-password-1")
    except urllib.error.HTTPError:
        api.call("POST", "/api/v1/users", owner, {"email": email, "full_name": "Bench manager", "role": "manager",
                                                  "team_id": branch["id"], "password": "seed-password-1"})
        return api.login(email, "seed-password-1")


def run(args, env=None, **kwargs):
    return subprocess.run(args, check=True, env={**os.environ, **(env or {})}, **kwargs)


def environment(data_dir, port):
    return {"CRM_DATA_DIR": str(data_dir), "CRM_BIND": f"127.0.0.1:{port}", "CRM_METRICS_BIND": f"127.0.0.1:{port + 1}", "DATABASE_URL": "", "CRM_JWT_SECRET": "",
            "RUST_LOG": "warn",
            # The load generator is one user at thousands of requests a second: no rate limit.
            "CRM_USER_REQUESTS_PER_MINUTE": "100000000"}


def prepare_data(data_dir, scale, port):
    """Creates the workspace and seeds it once; later runs reuse the folder."""
    marker = data_dir / "bench-workspace"
    if marker.exists():
        return marker.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**environment(data_dir, port), "CRM_OWNER_PASSWORD": OWNER_PASSWORD}
    workspace = run([str(BINARY), "workspace", "create", "--name", f"Bench {scale}", "--owner-email", OWNER_EMAIL],
                    env=env, capture_output=True, text=True).stdout.strip()
    log(f"seeding {scale} clients into {workspace}")
    started = time.monotonic()
    run([str(BINARY), "seed", "--workspace", workspace, "--clients", str(scale), "--seed", str(SEED)],
        env=environment(data_dir, port))
    (data_dir / "seed-seconds").write_text(f"{time.monotonic() - started:.0f}")
    marker.write_text(workspace)
    return workspace


def wait_until_idle(cluster):
    """Waits for the queries of a scenario to finish: wrk gives up on a request after 2 s, but the
    server still runs it, and would run it under the next scenario."""
    idle_checks = 0
    for _ in range(240):
        busy = cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                            "AND state = 'active' AND pid <> pg_backend_pid()")
        idle_checks = idle_checks + 1 if busy == "0" else 0
        if idle_checks == 3:  # requests still queued for a connection start within that time
            return
        time.sleep(0.5)


def tune_cluster(data_dir):
    """PostgreSQL's default shared_buffers (128 MB) holds a tenth of the 1M-client data; the
    benchmark's cluster gets a quarter of the RAM, the usual setting for a database server."""
    conf = data_dir / "postgres" / "data" / "postgresql.conf"
    text = conf.read_text()
    if "# crm bench" in text:
        return
    memory_mb = next(int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    with open(conf, "a") as handle:
        handle.write(f"\n# crm bench: a quarter of the RAM\nshared_buffers = '{memory_mb // 4}MB'\n")


def start_server(data_dir, port, env=None, log_name="server.log"):
    """Starts `crm serve` on `port` with the scale's environment, `env` on top; waits until ready."""
    log_path = data_dir / log_name
    server = subprocess.Popen([str(BINARY), "serve"], env={**os.environ, **environment(data_dir, port), **(env or {})},
                              stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2)
            return server
        except Exception:
            if server.poll() is not None:
                raise SystemExit(f"the server exited; see {log_path}")
            time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def pool_size(port):
    """The server's connection pool size, as its /metrics (on the next port) reports it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port + 1}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("crm_db_pool_max_connections "):
                return int(float(line.split()[1]))
    raise RuntimeError("/metrics has no crm_db_pool_max_connections")


def reset_peak_rss(pid):
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def current_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    """The process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_latency(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# How long wrk waits for a response. Its default, 2 s, drops slower responses from the latencies:
# at 1M clients a segment preview under load takes longer, and its p50 and p99 read 0.
WRK_TIMEOUT = "30s"


def run_wrk(url, script, script_args, options, connections=None, duration=None):
    connections = connections or options.connections
    output = subprocess.run(
        ["wrk", "-t", str(min(options.threads, connections)), "-c", str(connections), "-d",
         f"{duration or options.duration}s", "--latency", "--timeout", WRK_TIMEOUT,
         "-s", str(script), url, "--", *script_args],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+(\S+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    timeouts = re.search(r"timeout (\d+)", errors.group(1)) if errors else None
    return {"rps": rps, "requests": requests, "p50": p50, "p99": p99,
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "timeouts": int(timeouts.group(1)) if timeouts else 0,
            "socket_errors": errors.group(1) if errors else ""}


def minted_since(text, since_ms):
    """Whether `text` is a UUIDv7 generated at or after `since_ms` (during a capture)."""
    try:
        value = uuid.UUID(text)
    except ValueError:
        return False
    return value.version == 7 and (value.int >> 80) >= since_ms


# The first statement of every request's database turn (auth/principal.rs, `Caller::check`).
CALLER_CHECK = 'SELECT "users"."active", "users"."role" FROM "users"'
# Text only the background workers' statements hold: the stats refresh's claim of a workspace,
# the reminders' claim, the purge of refresh tokens.
BACKGROUND_WORK = ('"workspaces"."stats_refreshed_at"', "reminder_fired_at IS NULL", 'DELETE FROM "refresh_tokens"')


def capture_sql(cluster, send):
    """The statements PostgreSQL executed while `send()` ran, with their parameters filled in."""
    cluster.psql("ALTER SYSTEM SET log_min_duration_statement = 0")
    cluster.psql("SELECT pg_reload_conf()")
    time.sleep(0.5)
    start = cluster.log_file.stat().st_size
    started_ms = int(time.time() * 1000) - 5
    send()
    time.sleep(0.5)
    cluster.psql("ALTER SYSTEM RESET log_min_duration_statement")
    cluster.psql("SELECT pg_reload_conf()")
    with open(cluster.log_file, encoding="utf-8", errors="replace") as handle:
        handle.seek(start)
        lines = handle.read().splitlines()
    # Join continuation lines (they start with a tab) to their entry.
    entries = []
    for line in lines:
        if line.startswith("\t") and entries:
            entries[-1] += "\n" + line[1:]
        else:
            entries.append(line)
    # Only the request's own connections: the server's background workers (reminders, the hourly
    # client stats) may write at the same time, and a ceiling script repeating their statements
    # 16 times at once fails (PostgreSQL: "new multixact has more than one updating member").
    # Every request's turn starts with the caller check.
    backend = re.compile(r"^\S+ \S+ \S+ \[(\d+)\]")
    request_backends = {match.group(1) for entry in entries if CALLER_CHECK in entry
                        and (match := backend.match(entry))}
    # A background worker may also take the request's connection once the request gave it back;
    # its statements (and the transaction around them) aren't the request's. At 100k clients the
    # stats worker's poll once landed in the card's script and lowered its ceiling by a third.
    statements = []
    in_worker_transaction = set()
    for index, entry in enumerate(entries):
        executed = re.search(r"LOG:  duration: [\d.]+ ms  (?:execute [^:]+|statement): (.*)", entry, re.S)
        if not executed:
            continue
        served_by = backend.match(entry)
        if request_backends and served_by and served_by.group(1) not in request_backends:
            continue
        sql = executed.group(1).strip()
        pid = served_by.group(1) if served_by else None
        if pid in in_worker_transaction:
            if sql.upper().startswith(("COMMIT", "ROLLBACK")):
                in_worker_transaction.discard(pid)
            continue
        if any(marker in sql for marker in BACKGROUND_WORK):
            if statements and statements[-1].upper() == "BEGIN":
                statements.pop()  # the worker's own transaction
                in_worker_transaction.add(pid)
            continue
        if sql in ("SELECT 1",) or "pg_reload_conf" in sql or "log_min_duration_statement" in sql:
            continue
        parameters = {}
        if index + 1 < len(entries) and "DETAIL:  parameters:" in entries[index + 1]:
            detail = entries[index + 1].split("DETAIL:  parameters:", 1)[1]
            for match in re.finditer(r"\$(\d+) = (NULL|'(?:[^']|'')*')", detail):
                parameters[int(match.group(1))] = match.group(2)
        for number in sorted(parameters, reverse=True):
            sql = re.sub(rf"\${number}(?!\d)", lambda _: parameters[number], sql)
        statements.append(sql)
    return statements, started_ms


def pgbench_script(statements, started_ms, replacements, rollback):
    """A pgbench script from captured statements: `replacements` turn literals into expressions of
    the pgbench variable :n, a client of the wrk scenarios' sample; with `rollback` a write ends in
    ROLLBACK so that repeating it leaves the data as it was."""
    lines = [f"\\set k random(1, {SAMPLE})", f"\\set n (:k * {SAMPLE_STRIDE}) % {replacements['scale']} + 1"]
    # New records' ids (UUIDv7 minted during the capture) become fresh ones, the same one wherever
    # the request used it: a pgbench variable per id, made a uuid in SQL. (gen_random_uuid() in
    # each place gave every statement another id, and a volatile one no index can look up.)
    minted = {}

    def fresh_id(match):
        if not minted_since(match.group(1), started_ms):
            return match.group(0)
        if match.group(1) not in minted:
            minted[match.group(1)] = f"new{len(minted) + 1}"
            lines.append(f"\\set {minted[match.group(1)]} random(1, 9223372036854775807)")
        return f"md5(:{minted[match.group(1)]}::text)::uuid"

    # A literal holding the capture's unique stamp gets a fresh stamp per transaction, the same one
    # in every statement: `'…stamp…'` becomes `('…' || :stamp || '…')`, cast to the type the
    # literal had from its context (a bound expression can't take it from there).
    unique = replacements.get("unique")

    def restamp(match):
        text = match.group(1)
        if not unique or unique not in text:
            return match.group(0)
        if not any(line.startswith("\\set stamp") for line in lines):
            lines.append("\\set stamp random(1, 9223372036854775807)")
        kind = "jsonb" if text.startswith(('{"', "[")) else "text[]" if text.startswith("{") else "text"
        return "('" + "' || :stamp || '".join(text.split(unique)) + f"')::{kind}"

    for sql in statements:
        for literal, expression in replacements["literals"].items():
            sql = sql.replace(literal, expression)
        sql = re.sub(r"'((?:[^']|'')*)'", restamp, sql)
        sql = re.sub(r"'([0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12})'", fresh_id, sql)
        if rollback and sql.strip().upper() == "COMMIT":
            sql = "ROLLBACK"
        # One command per line for pgbench: fold the SQL (dropping comments first).
        sql = " ".join(line.split("--", 1)[0] for line in sql.splitlines())
        lines.append(sql.rstrip().rstrip(";") + ";")
    return "\n".join(lines) + "\n"


def run_pgbench(cluster, script_path, options):
    output = subprocess.run(
        cluster.command("pgbench", "-h", str(cluster.socket_dir), "-n", "-M", "prepared", "-c", str(options.connections),
                        "-j", str(options.threads), "-T", str(options.duration), "-f", str(script_path), "crm"),
        check=True, capture_output=True, text=True).stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", output).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))
    return {"tps": tps, "latency": latency}


def sampled_client(k, scale):
    """The k-th client of the request sample: a stride through 1..scale (prime, so no repeats)."""
    return (k * SAMPLE_STRIDE) % scale + 1


def seeded_client_id(n):
    return str(uuid.UUID(hashlib.md5(f"client:{SEED}:{n}".encode()).hexdigest()))


def seeded_phone(n):
    return "+79" + str((n * 7919 + SEED) % 1_000_000_000).zfill(9)


def bench_scale(scale, options, work_dir):
    data_dir = Path(options.data_root) / str(scale)
    port = options.port
    workspace = prepare_data(data_dir, scale, port)
    cluster = Cluster(data_dir)
    tune_cluster(data_dir)
    server = start_server(data_dir, port)
    # Remove the clients an earlier run's POST scenario and POST ceiling (which commits) created:
    # left in place they sit at the top of every list by updated_at, and even soft-deleted
    # they outnumbered the 10k data set's own clients ten to one and skewed the planner's
    # statistics. They have no contacts, deals or activities, so the foreign-key checks, each a scan
    # of a table whose client index is partial (minutes at 100k clients), are skipped for the
    # delete; only their name words refer to them.
    cluster.psql("BEGIN; SET LOCAL session_replication_role = replica; "
                 "CREATE TEMP TABLE load_clients ON COMMIT DROP AS SELECT workspace_id, id FROM clients "
                 "WHERE last_name IN ('Бенчмарков', 'Потолков') AND 'load' = ANY(tags); "
                 "DELETE FROM client_name_words AS w USING load_clients AS c "
                 "WHERE w.workspace_id = c.workspace_id AND w.client_id = c.id; "
                 "DELETE FROM clients AS live USING load_clients AS c "
                 "WHERE live.workspace_id = c.workspace_id AND live.id = c.id; COMMIT;")
    # INDEX_CLEANUP ON: below 2% of pages with dead rows VACUUM leaves the indexes alone. The rows
    # the PATCH ceiling rolls back (its captured UPDATE writes the first sample client's phone
    # into every client it updates) then stayed in the phone index: 30,000 of them at 1M clients,
    # and looking up that phone, the phone scenario's first, took 8 ms instead of 0.1 ms.
    cluster.psql("VACUUM (INDEX_CLEANUP ON, ANALYZE) clients")
    # The hourly stats refresh runs right after start when it is due: wait for it, so that it
    # doesn't run under the first scenarios (at 1M clients it takes a while).
    for _ in range(1800):
        if cluster.psql(f"SELECT stats_refreshed_at > now() - interval '55 minutes' FROM workspaces "
                        f"WHERE id = '{workspace}'") == "t":
            break
        time.sleep(1)
    results = {"scale": scale, "scenarios": [], "seed_seconds": (data_dir / "seed-seconds").read_text().strip()
               if (data_dir / "seed-seconds").exists() else "", "pool": pool_size(port),
               "rss_idle_start": current_rss_mb(server.pid)}
    try:
        api = Api(f"http://127.0.0.1:{port}")
        owner = api.login(OWNER_EMAIL, OWNER_PASSWORD)
        sales = api.login("seed-sales-1@seed.example", "seed-password-1")
        results["counts"] = cluster.psql(
            f"SELECT (SELECT count(*) FROM clients WHERE workspace_id = '{workspace}' AND deleted_at IS NULL) "
            f"|| ' live and ' || "
            f"(SELECT count(*) FROM clients WHERE workspace_id = '{workspace}' AND deleted_at IS NOT NULL) "
            f"|| ' deleted clients, ' || "
            f"(SELECT count(*) FROM contacts WHERE workspace_id = '{workspace}') || ' contacts, ' || "
            f"(SELECT count(*) FROM deals WHERE workspace_id = '{workspace}') || ' deals, ' || "
            f"(SELECT count(*) FROM activities WHERE workspace_id = '{workspace}') || ' activities, ' || "
            f"(SELECT count(*) FROM users WHERE workspace_id = '{workspace}' AND email LIKE 'seed-sales-%') "
            f"|| ' sales users'")

        # Request samples: seeded clients are numbered 1..scale, so their ids and phones are known.
        # The sample is a formula of k in 1..SAMPLE so that pgbench draws the very same clients.
        numbers = [sampled_client(k, scale) for k in range(1, SAMPLE + 1)]
        files = {}

        def write(name, lines):
            path = work_dir / f"{scale}-{name}.txt"
            path.write_text("\n".join(lines) + "\n")
            files[name] = path
            return path

        write("client", [f"/api/v1/clients/{seeded_client_id(n)}" for n in numbers])
        write("timeline", [f"/api/v1/clients/{seeded_client_id(n)}/timeline" for n in numbers])
        write("phone", [f"/api/v1/clients?phone={urllib.parse.quote(seeded_phone(n))}" for n in numbers])
        owners = cluster.psql(f"SELECT id FROM users WHERE workspace_id = '{workspace}' AND email LIKE 'seed-sales-%'").split()
        write("list", ["/api/v1/clients?limit=50&sort=-updated_at"])
        write("list_owner", [f"/api/v1/clients?limit=50&sort=-updated_at&owner_id={owner}" for owner in owners])
        write("list_tag", ["/api/v1/clients?limit=50&sort=-updated_at&tag=vip"])
        # Visibility: a rep lists their own clients (the seeded reps see `own`), a manager their
        # team's: a tenth of the reps, in a department under the manager's branch.
        manager = team_manager(api, owner, owners[: max(2, len(owners) // 10)])
        # A fuzzy fragment: the first 5 letters of a last name with one letter dropped.
        names = cluster.psql(f"SELECT DISTINCT split_part(display_name, ' ', 1) FROM clients "
                             f"WHERE workspace_id = '{workspace}' AND kind = 'person' LIMIT 40").split()
        fragments = [urllib.parse.quote(name[:2] + name[3:6]) for name in names if len(name) >= 6]
        write("fuzzy", [f"/api/v1/clients?q={fragment}&limit=50" for fragment in fragments])
        write("agenda", ["/api/v1/me/agenda"])
        # The seeder plans activities for the 30 days after it ran, so the size of today's agenda
        # depends on the day the bench runs: say what the scenario served.
        agenda = api.call("GET", "/api/v1/me/agenda", token=sales)
        results["agenda"] = (f"{len(agenda['items'])} activities "
                             f"({agenda['overdue_count']} of the user's overdue in all, on {agenda['date']})")
        pipeline = cluster.psql(f"SELECT id FROM pipelines WHERE workspace_id = '{workspace}' AND is_default")
        write("board", [f"/api/v1/pipelines/{pipeline}/board"])
        segment_name = "Bench: companies that bought twice, not for 90 days"
        segment = cluster.psql(f"SELECT id FROM segments WHERE workspace_id = '{workspace}' AND name = '{segment_name}'")
        three_conditions = {"all": [{"field": "kind", "op": "eq", "value": "company"},
                                    {"field": "stats.won_count", "op": "gte", "value": 2},
                                    {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": 90}]}
        if not segment:
            segment = api.call("POST", "/api/v1/segments", owner,
                               {"name": segment_name, "kind": "dynamic", "filter": three_conditions})["id"]
        preview_body = work_dir / f"{scale}-preview.json"
        preview_body.write_text(json.dumps({"filter": three_conditions, "limit": 50}))
        # A count to keep from the start: a segment never counted has no count to give while the
        # first one is made, so every request waits for it (170 ms alone at 1M), and wrk's
        # correction for coordinated omission turned that one wait into a p99 of 460 ms for a
        # scenario meant to measure the kept count. A count that expires during the run is
        # recounted while the other requests get the expired one, as a polling dashboard sees it.
        api.call("GET", f"/api/v1/segments/{segment}/count", owner)
        write("segment_count", [f"/api/v1/segments/{segment}/count"])
        # The count made now: what the first look after a minute costs, and the preview's count.
        write("segment_count_fresh", [f"/api/v1/segments/{segment}/count?fresh=true"])
        write("segment_members", [f"/api/v1/segments/{segment}/members?limit=50"])
        versions = cluster.psql(
            "SELECT id || ' ' || version FROM clients WHERE workspace_id = '{}' AND id IN ({})".format(
                workspace, ",".join(f"'{seeded_client_id(n)}'" for n in numbers)))
        write("patch", versions.split("\n"))

        base = f"http://127.0.0.1:{port}"
        wrk_dir = ROOT / "bench" / "wrk"
        scenarios = [
            ("GET /clients/{id}", "paths", files["client"], owner, "read"),
            ("GET /clients?limit=50&sort=-updated_at", "paths", files["list"], owner, "read"),
            ("… &owner_id=", "paths", files["list_owner"], owner, "read"),
            ("… &tag=vip", "paths", files["list_tag"], owner, "read"),
            ("… as a rep (their own clients)", "paths", files["list"], sales, "read"),
            ("… as a manager (a tenth of the reps' clients)", "paths", files["list"], manager, "read"),
            ("GET /clients?q=<fuzzy fragment>", "paths", files["fuzzy"], owner, "read"),
            ("GET /clients?phone=", "paths", files["phone"], owner, "read"),
            ("GET /clients/{id}/timeline", "paths", files["timeline"], owner, "read"),
            ("GET /me/agenda", "paths", files["agenda"], sales, "read"),
            ("GET /pipelines/{id}/board", "paths", files["board"], owner, "read"),
            ("GET /segments/{id}/count (3 conditions, kept a minute)", "paths", files["segment_count"], owner, "read"),
            # One user asking the same fresh count and preview over and over: requests that come
            # while a count waits to begin share it (src/api/coalesce.rs), so these measure shared
            # counts, not 16 independent ones.
            ("… ?fresh=true (begun after the request; shared when asked together)", "paths",
             files["segment_count_fresh"], owner, "read"),
            ("GET /segments/{id}/members?limit=50", "paths", files["segment_members"], owner, "read"),
            ("POST /segments/preview (3 conditions; one count when asked together)", "post", preview_body, owner,
             "read"),
            ("POST /clients", "create", None, owner, "write"),
            ("PATCH /clients/{id} with If-Match", "patch", files["patch"], owner, "write"),
        ]
        if options.only:
            scenarios = [scenario for scenario in scenarios if options.only in scenario[0]]
        for name, script, data_file, token, kind in scenarios:
            reset_peak_rss(server.pid)
            script_args = {"paths": [str(data_file), token], "create": [token, str(time.time_ns())],
                           "patch": [str(data_file), token],
                           "post": ["/api/v1/segments/preview", str(data_file), token]}[script]
            cpu_before = cpu_seconds(server.pid)
            result = run_wrk(base, wrk_dir / f"{script}.lua", script_args, options)
            cpu_per_request = (cpu_seconds(server.pid) - cpu_before) / max(result["requests"], 1)
            result.update(name=name, kind=kind, rss=peak_rss_mb(server.pid), cpu_us=cpu_per_request * 1e6)
            wait_until_idle(cluster)
            if kind == "read":
                # The latency of one request on an idle server: what a user waits when the
                # machine isn't saturated.
                result["p50_alone"] = run_wrk(base, wrk_dir / f"{script}.lua", script_args, options,
                                              connections=1, duration=3)["p50"]
            log(f"{scale}: {name}: {result['rps']:.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, "
                f"non-2xx {result['non_2xx']}, server CPU {result['cpu_us']:.0f} µs/req, "
                f"p50 alone {result.get('p50_alone', 0):.2f} ms")
            results["scenarios"].append(result)
            wait_until_idle(cluster)

        # What the server holds once the load is over: its database threads give back their free
        # memory after 2 s without work (src/allocator.rs).
        time.sleep(5)
        results["rss_idle_after"] = current_rss_mb(server.pid)

        if not options.only:
            results["scenarios"].extend(two_processes(data_dir, port, files, owner, options, server, cluster))

        # The ceilings: pgbench with the SQL each endpoint issued, parameters as the load used them.
        n = numbers[0]
        client = seeded_client_id(n)
        id_expression = "(md5('client:1:' || :n)::uuid)"
        phone_expression = "ARRAY['+79' || lpad(((:n::bigint * 7919 + 1) % 1000000000)::text, 9, '0')]"
        version = cluster.psql(f"SELECT version FROM clients WHERE workspace_id = '{workspace}' AND id = '{client}'")
        # The new client's email, unique per pgbench transaction as the load's are per request: one
        # email in every rolled-back insert piled dead entries on one key of the email index, which
        # the duplicate check then read through (the ceiling fell from 2,300 to 340 tps at 1M).
        # With fresh ids and emails the POST ceiling commits, as the endpoint does: a rollback skips
        # the commit's WAL flush (about a tenth of the ceiling at 100k). The PATCH ceiling can't: it
        # updates the sample's clients again and again, so it rolls back to leave them as they were.
        unique_stamp = str(time.time_ns())
        ceilings = {
            "GET /clients/{id}": (lambda: api.call("GET", f"/api/v1/clients/{client}", owner),
                                  {f"'{client}'": id_expression}, False),
            "GET /clients?limit=50&sort=-updated_at": (lambda: api.call("GET", "/api/v1/clients?limit=50&sort=-updated_at", owner),
                                                       {}, False),
            "GET /clients?phone=": (lambda: api.call("GET", f"/api/v1/clients?phone={urllib.parse.quote(seeded_phone(n))}", owner),
                                   {"'{" + seeded_phone(n) + "}'": phone_expression}, False),
            "POST /clients": (lambda: api.call("POST", "/api/v1/clients", owner, {
                "kind": "person", "last_name": "Потолков", "first_name": "Тест", "tags": ["load"],
                "emails": [{"value": f"ceiling{unique_stamp}@load.example"}]}), {}, False),
            "PATCH /clients/{id} with If-Match": (lambda: api.call(
                "PATCH", f"/api/v1/clients/{client}", owner, {"notes": f"ceiling {time.time_ns()}"},
                {"If-Match": f'"{version}"'}), {f"'{client}'": id_expression}, True),
        }
        for scenario in results["scenarios"]:
            if options.no_ceilings or scenario["name"] not in ceilings:
                continue
            send, literals, rollback = ceilings[scenario["name"]]
            statements, started_ms = capture_sql(cluster, send)
            script = pgbench_script(statements, started_ms,
                                    {"scale": scale, "literals": literals, "unique": unique_stamp}, rollback)
            script_path = work_dir / f"{scale}-pgbench-{len(scenario['name'])}.sql"
            script_path.write_text(script)
            os.chmod(script_path, 0o644)
            try:
                ceiling = run_pgbench(cluster, script_path, options)
            except subprocess.CalledProcessError as error:
                # Reported as a missing ceiling rather than losing the whole run.
                log(f"{scale}: pgbench failed for {scenario['name']} ({script_path.name}): {error.stderr or error.stdout}")
                continue
            scenario.update(ceiling=ceiling["tps"], statements=len(statements))
            log(f"{scale}: ceiling of {scenario['name']}: {ceiling['tps']:.0f} tps with {len(statements)} statements "
                f"({script_path.name})")
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


def two_processes(data_dir, port, files, token, options, first, cluster):
    """The card and the list again, with a second `crm serve` on the same database taking half the
    connections: what several stateless processes in front of one database give (docs/scaling.md).
    On a 2-core machine both processes share the cores with PostgreSQL and wrk, so this shows
    what a second process costs, not what a second machine would add."""
    second_port = port + 2
    second = start_server(data_dir, second_port, log_name="server-2.log", env={
        "CRM_DATA_DIR": "", "DATABASE_URL": f"postgres://postgres@{urllib.parse.quote(str(cluster.socket_dir), safe='')}/crm",
        # The tokens the first process signed are good on the second: one secret for both.
        "CRM_JWT_SECRET": (data_dir / "jwt_secret").read_text().strip()})
    try:
        wrk_script = ROOT / "bench" / "wrk" / "paths.lua"
        half = max(1, options.connections // 2)
        scenarios = []
        for name, data_file in [("GET /clients/{id}, two processes", files["client"]),
                                ("GET /clients?limit=50&sort=-updated_at, two processes", files["list"])]:
            servers = [first, second]
            for process in servers:
                reset_peak_rss(process.pid)
            cpu_before = sum(cpu_seconds(process.pid) for process in servers)
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                runs = list(pool.map(
                    lambda target: run_wrk(f"http://127.0.0.1:{target}", wrk_script, [str(data_file), token],
                                           options, connections=half),
                    [port, second_port]))
            requests = sum(run["requests"] for run in runs)
            cpu = sum(cpu_seconds(process.pid) for process in servers) - cpu_before
            # Each process served half the connections: the latencies are the slower process's.
            result = {"name": name, "kind": "processes", "rps": sum(run["rps"] for run in runs),
                      "requests": requests, "p50": max(run["p50"] for run in runs),
                      "p99": max(run["p99"] for run in runs), "non_2xx": sum(run["non_2xx"] for run in runs),
                      "timeouts": sum(run["timeouts"] for run in runs),
                      "cpu_us": cpu / max(requests, 1) * 1e6,
                      "rss": max(peak_rss_mb(process.pid) for process in servers)}
            log(f"{name}: {result['rps']:.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, "
                f"non-2xx {result['non_2xx']}, server CPU {result['cpu_us']:.0f} µs/req")
            scenarios.append(result)
            wait_until_idle(cluster)
        return scenarios
    finally:
        second.terminate()
        second.wait(timeout=60)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) // (1024 * 1024) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    postgres = subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB RAM, {platform.system()} {platform.release()}; {postgres}; {wrk}"


def pools(all_results):
    """The pool size the runs had, as reported by the server (older saved results lack it)."""
    sizes = sorted({str(results["pool"]) for results in all_results if "pool" in results})
    return " / ".join(sizes) or "unrecorded"


def report(all_results, options):
    out = []
    out.append("# Benchmarks\n")
    out.append("Generated by `bench/run.sh` (do not edit by hand; query plans are in "
               "[query-plans.md](query-plans.md), a login flood in "
               "[benchmarks-login-flood.md](benchmarks-login-flood.md)).\n")
    out.append("## How to run\n")
    out.append("```sh\nbench/run.sh                       # 10k, 100k and 1M clients\n"
               "bench/run.sh --scales 10000 --duration 10\n```\n")
    out.append("It installs `wrk` if missing, builds the release binary, and for each scale starts the server on "
               "its own embedded PostgreSQL in `/var/tmp/crm-bench/<scale>` (seeded once with `crm seed` and kept), "
               "drives each scenario with wrk, then runs pgbench with the SQL that scenario's request issued, "
               "captured from PostgreSQL's statement log with the same parameters distribution "
               "(each transaction a random client of the 5,000-client sample the wrk scenario draws from), "
               "the same concurrency and prepared statements. Between scenarios it waits for the database to go "
               "idle, so that requests wrk gave up on don't run under the next scenario. "
               "The PATCH ceiling's script ends in ROLLBACK instead of COMMIT so that it can repeat on the same "
               "data: it skips the commit's WAL flush, so that ceiling is optimistic and its ratio a lower bound. "
               "The POST ceiling commits, as the endpoint does: each transaction has fresh ids and a fresh email "
               "(the clients it adds are removed before the next run).\n")
    out.append(f"Machine: {machine()}. Load: wrk, {options.threads} threads, {options.connections} connections, "
               f"{options.duration} s per scenario; pgbench `-M prepared -c {options.connections} -j {options.threads}`. "
               f"Server: its defaults, {max(1, (os.cpu_count() or 2) // 2)} actix worker(s) (half the cores) and a pool of "
               f"{pools(all_results)} connections with as many database threads (twice the cores, at least 4), "
               "PostgreSQL on the same machine "
               f"with its default settings (fsync on) but shared_buffers at a quarter of the RAM. Run {datetime.date.today()}.\n")
    out.append("req/s, p50 and p99 are under the load above; *p50 alone* is one connection on an otherwise idle "
               "server (3 s), the wait of a single user. "
               "*Server CPU* is the API server's CPU time (user and system) per request under load, steadier from "
               "run to run than req/s on a shared 2-core machine. "
               "Peak RSS is the server process's high-water mark during the scenario (reset before each); the "
               "server's allocator is mimalloc without transparent huge pages, and its database threads give "
               "their free memory back after 2 s without work (src/allocator.rs). "
               "Linux's scheduler autogroup is switched off for the run: with it on, every PostgreSQL backend is "
               "a scheduling group of its own and the whole API server counts as one, which stalled requests "
               "for 100-600 ms at p99 (see `scheduler_autogroup_off` in bench/bench.py).\n")
    for results in all_results:
        out.append(f"## {results['scale']:,} clients\n")
        seeded = f", seeded in {results['seed_seconds']} s" if results.get("seed_seconds") else ""
        out.append(f"Data: {results['counts']}{seeded}.\n")
        if "agenda" in results:
            out.append(f"The agenda scenario's page: {results['agenda']}.\n")
        if "rss_idle_after" in results:
            out.append(f"Server RSS while idle: {results['rss_idle_start']:.0f} MB after its start, "
                       f"{results['rss_idle_after']:.0f} MB 5 s after the last scenario.\n")
        out.append("| scenario | req/s | p50 ms | p99 ms | non-2xx | server CPU µs/req | peak RSS MB "
                   "| pgbench ceiling tps | API / ceiling | p50 alone ms |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in results["scenarios"]:
            ceiling = f"{s['ceiling']:.0f}" if "ceiling" in s else ""
            ratio = f"{100 * s['rps'] / s['ceiling']:.0f}%" if "ceiling" in s else ""
            alone = f"{s['p50_alone']:.2f}" if "p50_alone" in s else ""
            cpu = f"{s['cpu_us']:.0f}" if "cpu_us" in s else ""
            # A response wrk gave up on is neither in the latencies nor a non-2xx: say so.
            failed = f"{s['non_2xx']}" + (f" (+{s['timeouts']} timed out)" if s.get("timeouts") else "")
            out.append(f"| {s['name']} | {s['rps']:.0f} | {s['p50']:.2f} | {s['p99']:.2f} | {failed} | "
                       f"{cpu} | {s['rss']:.0f} | {ceiling} | {ratio} | {alone} |")
        out.append("")
    if len(all_results) > 1:
        out.append("## Latency by scale (read scenarios: p50 / p99 under load, p50 alone; ms)\n")
        out.append("| scenario | " + " | ".join(f"{r['scale']:,}" for r in all_results) + " |")
        out.append("|---|" + "---:|" * len(all_results))
        def cell(results, name):
            found = [s for s in results["scenarios"] if s["name"] == name]
            if not found:
                return ""
            s = found[0]
            return f"{s['p50']:.2f} / {s['p99']:.2f}" + (f" / {s['p50_alone']:.2f}" if "p50_alone" in s else "")

        for scenario in all_results[0]["scenarios"]:
            if scenario["kind"] != "read":
                continue
            cells = [cell(r, scenario["name"]) for r in all_results]
            out.append(f"| {scenario['name']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10000,100000,1000000")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--data-root", default="/var/tmp/crm-bench")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--report-only", action="store_true",
                        help="write the report from the results the last runs of these scales saved")
    parser.add_argument("--only", default="", help="run only the scenarios whose name contains this")
    parser.add_argument("--no-ceilings", action="store_true", help="skip the pgbench ceilings")
    options = parser.parse_args()
    # Stopped with SIGTERM, still stop the server and restore the scheduler setting.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    if not BINARY.exists():
        raise SystemExit(f"{BINARY} is missing: run bench/run.sh (it builds it)")
    work_dir = Path(options.data_root) / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(options.data_root, 0o755)
    os.chmod(work_dir, 0o755)
    with scheduler_autogroup_off():
        run_scales(options, work_dir)


AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


@contextlib.contextmanager
def scheduler_autogroup_off():
    """Linux's autogroup shares the CPU between sessions, not threads, and every PostgreSQL
    backend starts a session of its own: the whole multi-threaded server then weighs as much as
    one backend, and on 2 cores its requests stalled for 100-600 ms (p99 of the phone lookup 660 ms
    with autogroup on, 10 ms off). A database server and an application server on one host want it
    off; so does the benchmark. Restored afterwards."""
    try:
        before = AUTOGROUP.read_text().strip()
    except OSError:
        yield
        return
    try:
        if before != "0":
            AUTOGROUP.write_text("0")
            log("scheduler autogroup switched off for the run")
    except OSError as error:
        log(f"cannot switch the scheduler autogroup off ({error}); p99 latencies will suffer")
    try:
        yield
    finally:
        if before != "0":
            try:
                AUTOGROUP.write_text(before)
            except OSError:
                pass


def run_scales(options, work_dir):
    all_results = []
    for scale in [int(value) for value in options.scales.split(",")]:
        saved = work_dir / f"results-{scale}.json"
        if options.report_only:
            all_results.append(json.loads(saved.read_text()))
            continue
        all_results.append(bench_scale(scale, options, work_dir))
        if options.only or options.no_ceilings:
            continue  # a partial run: not saved for --report-only
        saved.write_text(json.dumps(all_results[-1], indent=2))
    # A partial run is reported only to a file of its own, never over the full report.
    if (options.only or options.no_ceilings) and Path(options.output) == DEFAULT_OUTPUT:
        return
    Path(options.output).write_text(report(all_results, options))
    log(f"wrote {options.output}")


if __name__ == "__main__":
    main()
