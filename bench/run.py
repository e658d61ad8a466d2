"""`make bench`: seed at scale, serve with gunicorn on PostgreSQL, measure
each endpoint beside its floor view, print and save the table.

    python -m bench.run [--scale 1.0] [--seed 7] [--fixed-seconds 20] [--max-seconds 10]

Uses DATABASE_URL if set (the database must be empty: it is migrated and
seeded); otherwise starts a throwaway PostgreSQL cluster (Debian's packages)
in a temporary directory and removes it afterwards.

Per endpoint, app and floor alike, in the same gunicorn workers:
  1. fixed rate: RATE requests/s for --fixed-seconds, open loop (each request
     is due at its own time; latency is measured from when it was due, so a
     slow server cannot hide its queue): p50/p95/p99;
  2. maximum throughput: CONCURRENCY closed-loop clients for --max-seconds;
  3. CPU-ms per request: the workers' utime+stime (/proc/<pid>/stat) over
     both phases, divided by the requests served;
  4. SQL queries per request: the X-Bench-Queries header (bench.middleware).
The load generator runs on the same machine and competes for its cores.
"""
from __future__ import annotations

import argparse
import base64
import csv
import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PY = sys.executable
RATE = 20.0
CONCURRENCY = 4
WORKERS = 2
TIMEOUT = 300.0  # never abandon a request: the server would still work through it
IN_FLIGHT = 8  # fixed-rate phase: at most this many requests outstanding

# Targets: p95 in ms at 20 requests/s, and CPU at most this many times the floor.
P95_TARGET = {"release list": 50, "release detail": 50, "transition list": 50, "task list p1": 50,
              "task list deep": 50, "transition pair": 100, "dashboard": 100, "release page": 100,
              "iCalendar 90 days": 150, "gate by number": 20, "gate by CI": 20}
CPU_RATIO_TARGET = {"release list": 2.0, "release detail": 2.0}


def log(msg):
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PostgreSQL ------------------------------------------------------------------------


def pg_bin() -> Path:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    sys.exit("No PostgreSQL server binaries: apt-get install -y postgresql (or set DATABASE_URL).")


class Cluster:
    """A throwaway PostgreSQL cluster, as root via the postgres user."""

    def __init__(self, workdir: Path):
        self.bin = pg_bin()
        self.dir = workdir / "pg"
        self.port = free_port()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> str:
        (self.dir / "data").mkdir(parents=True)
        (self.dir / "sock").mkdir()
        if self.as_pg:
            shutil.chown(self.dir, "postgres")
            for p in self.dir.iterdir():
                shutil.chown(p, "postgres")
            os.chmod(self.dir.parent, 0o755)
        os.chmod(self.dir / "data", 0o700)
        subprocess.run([*self.as_pg, str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], check=True,
                       stdout=subprocess.DEVNULL)
        # Durability off: the cluster is thrown away; it speeds seeding, not reads.
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir / 'sock'} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB "
                "-c max_wal_size=4GB -c maintenance_work_mem=256MB")
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                        str(self.dir / "postgres.log"), "-w", "-t", "60", "-o", opts, "start"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "bench"], check=True)
        return f"postgres://postgres@127.0.0.1:{self.port}/bench"

    def stop(self):
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w",
                        "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- HTTP --------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    headers: dict
    body: bytes | None = None


@dataclass
class Sample:
    latency: float  # seconds, from when the request was due
    status: int
    queries: int


def send(port: int, req: Req) -> tuple[int, int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(req.method, req.path, body=req.body, headers={"Host": "127.0.0.1", **req.headers})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, int(resp.headers.get("X-Bench-Queries", "-1")), body
    finally:
        conn.close()


def worker_pids(master: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                out.append(int(d.name))
    return out


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def fixed_rate(port, make, rate: float, seconds: float) -> tuple[list[Sample], float]:
    """Open loop: request i is due at t0 + i/rate; a pool of threads sends
    them; latency counts from when each was due."""
    n = int(rate * seconds)
    samples: list[Sample] = []
    lock = threading.Lock()
    next_i = [0]
    t0 = time.monotonic() + 0.05
    # A saturated endpoint stops being sent requests here; those already
    # sent are waited for, so the next phase starts on an idle server.
    deadline = t0 + seconds * 2

    def run():
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= n:
                return
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() > deadline:
                return
            try:
                status, q, _ = send(port, make(i))
            except OSError:
                status, q = 599, -1
            with lock:
                samples.append(Sample(time.monotonic() - due, status, q))

    threads = [threading.Thread(target=run) for _ in range(IN_FLIGHT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.monotonic() - t0


def max_throughput(port, make, seconds: float, concurrency: int) -> tuple[list[Sample], float]:
    samples: list[Sample] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    end = t0 + seconds

    def run(k):
        i = k
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                status, q, _ = send(port, make(i))
            except OSError:
                status, q = 599, -1
            with lock:
                samples.append(Sample(time.monotonic() - start, status, q))
            i += concurrency

    threads = [threading.Thread(target=run, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.monotonic() - t0


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


@dataclass
class Result:
    endpoint: str
    variant: str  # app | floor
    p50: float = 0
    p95: float = 0
    p99: float = 0
    max_rps: float = 0
    cpu_ms: float = 0
    queries: float = 0
    errors: int = 0
    requests: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)


def measure(port, master, endpoint, variant, make, fixed_s, max_s) -> Result:
    pids = worker_pids(master)
    c0 = cpu_seconds(pids)
    fixed, elapsed = fixed_rate(port, make, RATE, fixed_s)
    burst, burst_s = max_throughput(port, make, max_s, CONCURRENCY)
    c1 = cpu_seconds(pids)
    every = fixed + burst
    ok = [s for s in every if 200 <= s.status < 300]
    lat = [s.latency * 1000 for s in fixed if 200 <= s.status < 300]
    r = Result(endpoint, variant)
    r.requests = len(every)
    r.errors = len(every) - len(ok)
    r.p50, r.p95, r.p99 = pct(lat, 50), pct(lat, 95), pct(lat, 99)
    r.max_rps = len([s for s in burst if 200 <= s.status < 300]) / burst_s
    r.cpu_ms = (c1 - c0) * 1000 / max(1, len(every))
    qs = [s.queries for s in ok if s.queries >= 0]
    r.queries = statistics.mean(qs) if qs else float("nan")
    sent = len(fixed)
    if sent < int(RATE * fixed_s):
        r.note = f"saturated: {sent}/{int(RATE * fixed_s)} sent at 20/s"
    if r.errors:
        codes = sorted({s.status for s in every if not 200 <= s.status < 300})
        r.note = (r.note + "; " if r.note else "") + f"{r.errors} errors {codes}"
    return r


# --- the endpoints -------------------------------------------------------------------------


def endpoints(state: dict, port: int):
    """(name, app request maker, floor request maker) for each endpoint."""
    rng = random.Random(state["seed"])
    tok = {"Authorization": f"Token {state['tokens']['rm']}"}
    cookie = {"Cookie": f"sessionid={state['session']}"}
    rel = state["release_ids"]
    page_rel = state["page_release_ids"]
    picks = [rng.choice(rel) for _ in range(5000)]
    page_picks = [rng.choice(page_rel) for _ in range(5000)]
    now = datetime.fromisoformat(state["now"])
    start = now.astimezone(timezone.utc).replace(minute=0, second=0)
    cal = urlencode({"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "end": (start + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")})

    asked = itertools.count(1)  # not i: warm-up and phases reuse request numbers

    def cal_at(i):
        moved = start + timedelta(seconds=next(asked))
        return urlencode({"start": moved.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "end": (moved + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    # Page 50 of the closed minor releases (fewer pages at tiny scales).
    page = max(1, min(50, state["closed_minor"] // 50))
    list_q = f"state=closed&release_type=minor&page={page}"
    # The task list ~2,000 pages deep: the cursor DRF would hand out there
    # (position = the last id of the previous page, ordering -id).
    deep_pos = max(51, state["max_task_id"] - 1999 * 50)
    deep_cursor = base64.b64encode(f"p={deep_pos}".encode()).decode()

    # Transition pair: block then unblock the same task (in_progress ->
    # blocked -> in_progress). Request i works on task i mod N, so a task
    # comes round again only N requests later: two requests never race for
    # the same row. Which of the pair is due follows the task's last known
    # state (app and floor share the tasks).
    pair_ids = state["pair_task_ids"]
    blocked: dict[int, bool] = {}
    pair_lock = threading.Lock()

    def pair(prefix, body_block, body_unblock, ctype):
        def make(i):
            task = pair_ids[i % len(pair_ids)]
            with pair_lock:
                unblock = blocked.get(task, False)
                blocked[task] = not unblock
            name, body = ("unblock", body_unblock) if unblock else ("block", body_block)
            return Req("POST", f"{prefix}{task}/transitions/{name}/", {**tok, "Content-Type": ctype}, body)

        return make

    # The deployment gate, as a pipeline polls it with its gate token: by the
    # release's number, and by a CI and the version it deploys.
    gate = state.get("gate") or {"token": "", "picks": [["REL-00001", "", ""]]}
    gate_tok = {"Authorization": f"Bearer {gate['token']}"}
    gate_by_number = [urlencode({"release": number}) for number, _, _ in gate["picks"]]
    gate_by_ci = [urlencode({"ci": ci, "version": version}) for _, ci, version in gate["picks"]]

    return [
        ("release list", lambda i: Req("GET", f"/api/releases/?{list_q}", tok),
         lambda i: Req("GET", f"/floor/releases/?{list_q}", tok)),
        ("release detail", lambda i: Req("GET", f"/api/releases/{picks[i % 5000]}/", tok),
         lambda i: Req("GET", f"/floor/releases/{picks[i % 5000]}/", tok)),
        ("transition list", lambda i: Req("GET", f"/api/releases/{picks[i % 5000]}/transitions/", tok),
         lambda i: Req("GET", f"/floor/releases/{picks[i % 5000]}/transitions/", tok)),
        ("transition pair", pair("/api/tasks/", b'{"reason": "Waiting on the vendor."}', b"{}", "application/json"),
         pair("/floor/tasks/", b"reason=Waiting+on+the+vendor.", b"", "application/x-www-form-urlencoded")),
        ("task list p1", lambda i: Req("GET", "/api/tasks/", tok), lambda i: Req("GET", "/floor/tasks/", tok)),
        ("task list deep", lambda i: Req("GET", f"/api/tasks/?cursor={deep_cursor}", tok),
         lambda i: Req("GET", f"/floor/tasks/?before={deep_pos}", tok)),
        ("iCalendar 90 days", lambda i: Req("GET", f"/calendar.ics?{cal}", tok),
         lambda i: Req("GET", f"/floor/calendar/?{cal}", tok)),
        # The same feed where every request asks for a window no one asked
        # for before (a second later each time): the feed cache never holds
        # it, so this is the cost of rendering, as after every change.
        ("iCalendar rendered", lambda i: Req("GET", f"/calendar.ics?{cal_at(i)}", tok),
         lambda i: Req("GET", f"/floor/calendar/?{cal_at(i)}", tok)),
        ("dashboard", lambda i: Req("GET", "/", cookie), lambda i: Req("GET", "/floor/dashboard/", cookie)),
        ("release page", lambda i: Req("GET", f"/releases/{page_picks[i % 5000]}/", cookie),
         lambda i: Req("GET", f"/floor/release-page/{page_picks[i % 5000]}/", cookie)),
        ("gate by number", lambda i: Req("GET", f"/api/gate/?{gate_by_number[i % len(gate_by_number)]}", gate_tok),
         lambda i: Req("GET", f"/floor/gate/?{gate_by_number[i % len(gate_by_number)]}", gate_tok)),
        ("gate by CI", lambda i: Req("GET", f"/api/gate/?{gate_by_ci[i % len(gate_by_ci)]}", gate_tok),
         lambda i: Req("GET", f"/floor/gate/?{gate_by_ci[i % len(gate_by_ci)]}", gate_tok)),
    ]


def check(port, name, make):
    """One request before measuring: it must succeed, or the figures mean nothing."""
    status, q, body = send(port, make(0))
    if not 200 <= status < 300:
        raise SystemExit(f"{name}: {make(0).path} answered {status}: {body[:300]!r}")
    if name.startswith("transition pair"):
        send(port, make(0))  # back to the starting state


# --- the run ---------------------------------------------------------------------------------


def django_env(db_url: str) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY", "bench-" + base64.b64encode(os.urandom(30)).decode()),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
    })
    return env


def table(results: list[Result], meta: dict, compare: dict | None) -> str:
    by = {(r.endpoint, r.variant): r for r in results}
    head = ["endpoint", "p50 ms", "p95 ms", "p99 ms", "target p95", "max req/s", "CPU ms/req", "SQL/req",
            "floor p95", "floor req/s", "floor CPU", "floor SQL", "CPU app/floor", "p95 app/floor"]
    if compare:
        head.append(f"p95 vs {compare['label']}")
    rows = []
    for name in dict.fromkeys(r.endpoint for r in results):
        a, f = by[(name, "app")], by.get((name, "floor"))
        target = P95_TARGET.get(name)
        mark = "" if target is None else (" ok" if a.p95 <= target else " MISS")
        cpu_ratio = a.cpu_ms / f.cpu_ms if f and f.cpu_ms else float("nan")
        cpu_mark = ""
        if name in CPU_RATIO_TARGET:
            cpu_mark = " ok" if cpu_ratio <= CPU_RATIO_TARGET[name] else " MISS"
        row = [name, f"{a.p50:.1f}", f"{a.p95:.1f}{mark}", f"{a.p99:.1f}", f"{target}" if target else "",
               f"{a.max_rps:.1f}", f"{a.cpu_ms:.1f}", f"{a.queries:.1f}",
               f"{f.p95:.1f}" if f else "", f"{f.max_rps:.1f}" if f else "", f"{f.cpu_ms:.1f}" if f else "",
               f"{f.queries:.1f}" if f else "", f"{cpu_ratio:.2f}{cpu_mark}",
               f"{a.p95 / f.p95:.2f}" if f and f.p95 else ""]
        if compare:
            other = compare["p95"].get(name)
            row.append(f"{a.p95 / other:.2f}" if other else "")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    out = [f"## Benchmark, {meta['scale_label']} ({meta['when']})", "",
           *[f"- {k}: {v}" for k, v in meta["facts"].items()], "",
           line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *[line(r) for r in rows]]
    notes = [f"- {r.endpoint} ({r.variant}): {r.note}" for r in results if r.note]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description="Benchmark the app beside its floor views.")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fixed-seconds", type=float, default=20)
    p.add_argument("--max-seconds", type=float, default=10)
    p.add_argument("--only", help="comma-separated endpoint names (default: all)")
    p.add_argument("--label", help="results file label (default: full or quick by scale)")
    p.add_argument("--state", help="the JSON `python -m bench.seed --out` wrote for the already seeded "
                                   "DATABASE_URL: skip migrating and seeding (set the DJANGO_SECRET_KEY "
                                   "the seeding ran with: it signed the UI session)")
    args = p.parse_args(argv)
    # Stopped with SIGTERM (or Ctrl-C): still stop gunicorn and the cluster.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    label = args.label or ("full" if args.scale >= 1 else "quick")
    RESULTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    cluster = gunicorn = None
    try:
        db_url = os.environ.get("DATABASE_URL")
        if not db_url:
            cluster = Cluster(work)
            log(f"Starting a throwaway PostgreSQL ({cluster.bin}) on port {cluster.port}")
            db_url = cluster.start()
        env = django_env(db_url)
        env["DJANGO_STATIC_ROOT"] = str(work / "static")
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        if args.state:
            if not os.environ.get("DATABASE_URL"):
                raise SystemExit("--state needs the DATABASE_URL it was seeded into")
            state = json.loads(Path(args.state).read_text())
        else:
            log("Migrating")
            subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
            log(f"Seeding at scale {args.scale} (seed {args.seed})")
            state_file = work / "state.json"
            subprocess.run([PY, "-m", "bench.seed", "--scale", str(args.scale), "--seed", str(args.seed),
                            "--out", str(state_file)], cwd=ROOT, env=env, check=True)
            state = json.loads(state_file.read_text())

        port = free_port()
        log(f"Starting gunicorn ({WORKERS} sync workers) on 127.0.0.1:{port}")
        gunicorn = subprocess.Popen(
            [PY, "-m", "gunicorn", "releasemgmt.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
             "--worker-class", "sync", "--timeout", "120", "--log-level", "warning"],
            cwd=ROOT, env=env)
        for _ in range(300):
            try:
                send(port, Req("GET", "/accounts/login/", {}))
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.5)
        eps = endpoints(state, port)
        if args.only:
            wanted = {w.strip() for w in args.only.split(",")}
            eps = [e for e in eps if e[0] in wanted]
        for name, app, floor in eps:  # every endpoint answers before anything is measured
            check(port, name, app)
            check(port, name, floor)

        def warm(app, floor):
            """Warm every worker's caches and connections for one endpoint,
            right before it is measured (a cache warmed minutes earlier, for
            all endpoints at once, had expired by then). As many requests at
            once as there are workers: one at a time, one worker may serve
            them all. Distinct request numbers: the transition pair's
            requests must not work on the same task at once."""
            with ThreadPoolExecutor(WORKERS) as pool:
                for i in range(6):
                    for make in (app, floor):
                        list(pool.map(lambda k: send(port, make(i * WORKERS + k)), range(WORKERS)))

        results = []
        load0 = os.getloadavg()
        for name, app, floor in eps:
            warm(app, floor)
            for variant, make in (("app", app), ("floor", floor)):
                r = measure(port, gunicorn.pid, name, variant, make, args.fixed_seconds, args.max_seconds)
                results.append(r)
                log(f"  {name:<18} {variant:<5} p50 {r.p50:7.1f}  p95 {r.p95:7.1f}  p99 {r.p99:7.1f} ms  "
                    f"max {r.max_rps:6.1f}/s  CPU {r.cpu_ms:6.1f} ms  SQL {r.queries:5.1f}  {r.note}")
        load1 = os.getloadavg()

        other_label = "quick" if label == "full" else "full"
        compare = None
        other = RESULTS / f"{other_label}-latest.csv"
        if other.exists():
            with other.open() as fh:
                rows = [r for r in csv.DictReader(fh) if r["variant"] == "app"]
            compare = {"label": other_label, "p95": {r["endpoint"]: float(r["p95_ms"]) for r in rows}}
        counts = state["counts"]
        meta = {
            "scale_label": f"{label}, {counts['releases']:,} releases",
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "facts": {
                "data": (f"{counts['releases']:,} releases, {counts['rfcs']:,} RFCs, {counts['tasks']:,} tasks, "
                         f"{counts['cis']:,} CIs, {counts['links']:,} release-CI links (seed {state['seed']}); "
                         f"seeded in {state['seconds']} s"),
                "server": f"gunicorn, {WORKERS} sync workers, production settings, PostgreSQL, loopback",
                "load": (f"{RATE:.0f} req/s open loop for {args.fixed_seconds:.0f} s (latency from due time), "
                         f"then {CONCURRENCY} closed-loop clients for {args.max_seconds:.0f} s; driver on the "
                         "same machine"),
                "machine": f"{os.cpu_count()} CPUs; load average {load0[0]:.2f} before, {load1[0]:.2f} after",
            },
        }
        text = table(results, meta, compare)
        print()
        print(text)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M")
        for path in (RESULTS / f"{label}-{stamp}.md", RESULTS / f"{label}-latest.md"):
            path.write_text(text)
        for path in (RESULTS / f"{label}-{stamp}.csv", RESULTS / f"{label}-latest.csv"):
            with path.open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["endpoint", "variant", "p50_ms", "p95_ms", "p99_ms", "max_rps", "cpu_ms_per_req",
                            "sql_per_req", "requests", "errors", "note"])
                for r in results:
                    w.writerow([r.endpoint, r.variant, f"{r.p50:.2f}", f"{r.p95:.2f}", f"{r.p99:.2f}",
                                f"{r.max_rps:.2f}", f"{r.cpu_ms:.2f}", f"{r.queries:.2f}", r.requests, r.errors,
                                r.note])
        log(f"Written to {RESULTS.relative_to(ROOT)}/{label}-{stamp}.md and .csv")
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(30)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
