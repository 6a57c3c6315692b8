"""The start as the registry grows (issue 26, point 4): one instance, its FileStorage with 10 and with 100,000 done, unfetched records.

    .venv/bin/python bench/start_growth.py [--records 100000] [--runs 3] [--starts 60] [--warm-up 20]

One Zope instance (tests/helpers/instances.py: ``runwsgi``, a FileStorage, the
Plone site /plone, pool-size 2) and two copies of its Data.fs, made once:
one whose registry holds 10 done, unfetched records, one with
``--records`` (written directly into the stopped instance's FileStorage
with the registry's own API, bench/database.py's ``_add_done``: 5,000 a
transaction, finished now, ids drawn as starts draw them). Each run puts
each copy in place in turn (the order turned at each run), starts the
instance, lets ``--warm-up`` starts bring what a start reads into its
cache, and times ``--starts`` starts: the Member's POST of the no-op job
(bench-noop) to its 303, one at a time, each job then waited for and its
result fetched (not timed). The same process, settings and files for
both sizes; only the registry differs. Printed: each run's median start
time with each size and their ratio (goal: at most 1.2, in three runs in
a row).
"""

from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import Cluster
from systems import instance_environment
from systems import JOB
from systems import PackageWeb
from systems import PRODUCT_CONFIG
from systems import SITE
from systems import ZCML

import argparse
import database
import shutil
import statistics
import sys
import time
import transaction
import ZODB
import ZODB.FileStorage


SMALL = 10
GOAL = 1.2


def say(text):
    print(text, file=sys.stderr, flush=True)


def fill(path, target):
    """Done, unfetched records in the FileStorage at ``path`` until its registry holds ``target``."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(str(path)))
    try:
        while True:
            manager = transaction.TransactionManager()
            connection = db.open(transaction_manager=manager)
            manager.begin()
            missing = target - len(connection.root().get(database.registry.ROOT_KEY) or ())
            if missing <= 0:
                manager.abort()
                connection.close()
                return
            database._add_done(connection, min(database.BATCH, missing), JOB, SITE, "member")
            manager.commit()
            connection.close()
    finally:
        db.close()


def count(path):
    """How many records the registry in the FileStorage at ``path`` holds."""
    db = ZODB.DB(ZODB.FileStorage.FileStorage(str(path), read_only=True))
    try:
        connection = db.open()
        return len(connection.root().get(database.registry.ROOT_KEY) or ())
    finally:
        db.close()


def copy_storage(source, target):
    for suffix in ("", ".index"):
        shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def time_starts(instance, starts, warm_up):
    """Seconds of each of ``starts`` starts (POST to 303) after ``warm_up`` untimed ones."""
    web = PackageWeb(instance.port)
    session = web.session()
    timed = []
    try:
        for number in range(warm_up + starts):
            answer = session.post(f"{SITE}/@@{JOB}", {"_authenticator": web.token})
            assert answer.status == 303, (answer, answer.body[:300])
            if number >= warm_up:
                timed.append(answer.seconds)
            wait_done(web, session, answer.process_id)
            web.result(session, answer.process_id)
    finally:
        session.close()
    return timed


def wait_done(web, session, process_id, timeout=60):
    """Poll the job's state until it is done (a deadline, never a sleep that decides)."""
    limit = time.monotonic() + timeout
    while (state := web.state(session, process_id)) != "done":
        if time.monotonic() > limit:
            raise AssertionError(f"job {process_id} still {state} after {timeout} s")
        time.sleep(0.01)


def run(records=100_000, runs=3, starts=60, warm_up=20):
    began = time.monotonic()
    cluster = Cluster("netsight-async-bench-start-growth")
    try:
        directory = Path(cluster.directory)
        instance_environment(str(directory / "marks"))
        instance = cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML)
        say("creating the site ...")
        instance.create_site(SITE)
        live = instance.storage_path()
        files = {SMALL: directory / "small.fs", records: directory / "big.fs"}
        say(f"writing {SMALL} and {records:,} records ...")
        fill(live, SMALL)
        copy_storage(live, files[SMALL])
        filling = time.monotonic()
        fill(live, records)
        copy_storage(live, files[records])
        say(f"  written in {time.monotonic() - filling:.0f} s; the registries hold "
            + " and ".join(f"{count(path):,}" for path in files.values()) + " records")
        found = []
        for number in range(runs):
            medians = {}
            for size in (SMALL, records) if number % 2 == 0 else (records, SMALL):
                copy_storage(files[size], live)
                instance.start()
                try:
                    medians[size] = statistics.median(time_starts(instance, starts, warm_up))
                finally:
                    instance.stop()
            ratio = medians[records] / medians[SMALL]
            found.append((medians[SMALL], medians[records], ratio))
            say(f"run {number + 1}: start {medians[SMALL] * 1000:.2f} ms with {SMALL}, "
                f"{medians[records] * 1000:.2f} ms with {records:,}: {ratio:.2f}")
    finally:
        cluster.close()
    print(f"The start as the registry grows ({time.monotonic() - began:.0f} s; median of {starts} starts a size "
          f"and run, after {warm_up}):")
    for number, (small, big, ratio) in enumerate(found, 1):
        met = "yes" if ratio <= GOAL else "NO"
        print(f"  run {number}: {small * 1000:.2f} ms with {SMALL}, {big * 1000:.2f} ms with {records:,}: "
              f"{ratio:.2f} (goal <= {GOAL}: {met})")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="the big registry (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="runs, each timing both sizes (default 3)")
    parser.add_argument("--starts", type=int, default=60, help="timed starts a size and run (default 60)")
    parser.add_argument("--warm-up", type=int, default=20, help="untimed starts before them (default 20)")
    args = parser.parse_args()
    run(args.records, args.runs, args.starts, args.warm_up)


if __name__ == "__main__":
    main()
