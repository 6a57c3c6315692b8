"""The transactions a job costs in the end to end, counted in the storage: how many, and what each wrote (issue 26).

    .venv/bin/python bench/job_transactions.py [--jobs 200] [--clients 4] [--package-source DIR]

The set-up is bench/compare.py's "one instance, FileStorage" (``pool-size
2``, the Plone site, the no-op job ``bench-noop``). After a warm-up of 100
jobs, ``--jobs`` jobs end to end from ``--clients`` clients (each started,
polled until it ended, its result fetched); then the instance stops and its
Data.fs is read from the first transaction of that run on. Printed: the
transactions a job, the objects written a job by class, and the kinds of
transaction (the classes each wrote, with a process record's states), the
commonest first. Few clients show each job's own commits; many show how
the worker groups them (``transactions._together``, ``behind.py``).
"""

from collections import Counter
from netsight.asynchronous.tests.helpers.instances import Cluster
from pathlib import Path
from systems import instance_environment
from systems import OwnQueue
from systems import PEERS
from systems import PRODUCT_CONFIG
from systems import SITE
from systems import ZCML
from ZODB.FileStorage import FileStorage

import argparse
import io
import pickle
import sys
import tempfile
import time


sys.path.insert(0, str(PEERS))  # bench_marks, for measures

import measures  # noqa: E402


WARM_UP = 100


def written(data):
    """The class name of a stored object's pickle, and its state (persistent references left unread)."""
    unpickler = pickle.Unpickler(io.BytesIO(data))
    unpickler.persistent_load = lambda reference: None
    klass, state = unpickler.load(), unpickler.load()
    klass = klass[0] if isinstance(klass, tuple) else klass
    return getattr(klass, "__name__", str(klass)), state


def kind(records):
    """A transaction's kind: the classes it wrote (how many of each), a process record's state in brackets."""
    names = Counter()
    for name, state in records:
        if name == "ProcessRecord" and isinstance(state, dict):
            name = f"ProcessRecord[{state.get('state')}]"
        names[name] += 1
    return ", ".join(f"{count} {name}" if count > 1 else name for name, count in sorted(names.items()))


def read(path, since):
    """``(transactions, objects by class, kinds)`` of the Data.fs at ``path`` from the time ``since`` on."""
    storage = FileStorage(str(path), read_only=True)
    transactions, objects, kinds = 0, Counter(), Counter()
    try:
        for txn in storage.iterator(start=since):
            records = [written(record.data) for record in txn if record.data is not None]
            transactions += 1
            objects.update(name for name, _state in records)
            kinds[kind(records)] += 1
    finally:
        storage.close()
    return transactions, objects, kinds


def tid_of(seconds):
    """The transaction id of a time (``time.time()``), as FileStorage writes them."""
    from persistent.TimeStamp import TimeStamp

    moment = time.gmtime(seconds)
    return TimeStamp(*moment[:5], moment[5] + seconds % 1).raw()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs of the run (default 200)")
    parser.add_argument("--clients", type=int, default=4, help="the clients (default 4)")
    parser.add_argument("--package-source", help="a directory with the package's src/ and demo/src/ for the "
                        "instance to run (default: the checkout's)")
    args = parser.parse_args()
    cluster = Cluster("netsight-async-bench-job-transactions")
    try:
        marks = str(Path(tempfile.mkdtemp(dir=cluster.directory)) / "marks")
        instance_environment(marks, args.package_source)
        instance = cluster.instance(product_config=PRODUCT_CONFIG, zcml=ZCML)
        print("creating the site ...", file=sys.stderr)
        instance.create_site(SITE)
        instance.start()
        system = OwnQueue("one instance, FileStorage", instance, marks)
        measures.end_to_end(system, WARM_UP, args.clients)
        since = tid_of(time.time())
        figures = measures.end_to_end(system, args.jobs, args.clients)
        instance.stop()
        transactions, objects, kinds = read(instance.directory / "var" / "filestorage" / "Data.fs", since)
    finally:
        cluster.close()
    jobs = max(figures.done, 1)
    print(f"bench/job_transactions.py {' '.join(sys.argv[1:])}")
    print(f"{figures.done} jobs done of {args.jobs} ({len(figures.lost)} lost) from {args.clients} clients: "
          f"{transactions} transactions, {transactions / jobs:.2f} a job")
    print("Objects written a job, by class:")
    for name, count in objects.most_common():
        print(f"  {count / jobs:6.2f}  {name}")
    print("Transactions a job, by what they wrote:")
    for written_kind, count in kinds.most_common(12):
        print(f"  {count / jobs:6.2f}  {written_kind}")


if __name__ == "__main__":
    main()
