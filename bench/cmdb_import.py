"""`make bench-import`: how long ``manage.py import_cmdb`` takes to load a
CMDB: 5,000 CIs with two dependencies each (one on a CI further down the
file), an owner and attributes, into an empty test database, as a dry run,
for real, and again unchanged (the round trip of its own export). The bar
(issue 17) is 30 s for the real import.

    python -m bench.cmdb_import [--cis 5000]

Runs on the database DATABASE_URL names (PostgreSQL) or SQLite without it,
in a test database it creates and drops (TEST_DATABASE_NAME names it).
Prints seconds and SQL statements for each run.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time


def write_cmdb(path: str, count: int, owner: str, seed: int = 7) -> None:
    rng = random.Random(seed)
    types = ["application", "service", "server", "database", "library"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "ci_type", "version", "status", "owner", "depends_on", "attributes"])
        for i in range(count):
            deps = {f"ci-{rng.randrange(count):05d}", f"ci-{(i + 1) % count:05d}"} - {f"ci-{i:05d}"}
            writer.writerow([f"ci-{i:05d}", types[i % len(types)], f"{i % 7}.{i % 13}", "live",
                             owner if i % 3 == 0 else "", "; ".join(sorted(deps)),
                             f'{{"site": "eu-{i % 4}", "rack": {i % 40}}}'])


class Counter:
    def __init__(self):
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def timed(label: str, *args) -> None:
    from django.core.management import call_command
    from django.db import connection

    counter = Counter()
    start = time.perf_counter()
    with connection.execute_wrapper(counter):
        call_command("import_cmdb", *args, stdout=open(os.devnull, "w"))
    print(f"{label:<28} {time.perf_counter() - start:7.1f} s  {counter.n:>7} SQL statements", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cis", type=int, default=5000)
    options = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasemgmt.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from tests.helpers import create_user

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(f"{connection.vendor} ({name}): {options.cis} CIs, about {2 * options.cis} dependencies", flush=True)
        create_user("bench-confman", "configuration_manager")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cmdb.csv")
            write_cmdb(path, options.cis, "bench-confman")
            timed("dry run (nothing written)", path, "--user", "bench-confman", "--dry-run")
            timed("import", path, "--user", "bench-confman")
            exported = os.path.join(tmp, "export.csv")
            call_command("export_cmdb", exported, "--user", "bench-confman", stderr=open(os.devnull, "w"))
            timed("re-import of its export", exported, "--user", "bench-confman")
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
