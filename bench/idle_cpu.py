"""What watching for claims costs an idle worker: the CPU time of idle instances on a ZEO server, from /proc/<pid>/stat.

    .venv/bin/python bench/idle_cpu.py [--seconds 30] [--rounds 3]

A ZEO server and two Zope instances on it (tests/helpers/instances.py, no Plone
site, no job): a worker (pool-size 2), whose maintenance thread looks
every 50 ms whether a job waits unclaimed (``instance.WATCH_INTERVAL``),
and a front-end (pool-size 0), which looks for no claim: the rest of an
idle instance's cost. Each round reads utime + stime of each process
(and of the ZEO server), waits ``--seconds``, and reads them again;
printed: CPU seconds per minute of each, and the most of a core.
"""

from netsight.asynchronous.tests.helpers.instances import Cluster

import argparse
import os
import sys
import time


def cpu_seconds(pid):
    """utime + stime of a process so far, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(seconds=30, rounds=3):
    cluster = Cluster("netsight-async-bench-idle")
    try:
        zeo = cluster.zeo_server()
        zeo.start()
        instances = {
            "worker (pool-size 2)": cluster.instance(zeo=zeo, product_config={"pool-size": "2"}),
            "front-end (pool-size 0)": cluster.instance(zeo=zeo, product_config={"pool-size": "0"}),
        }
        for instance in instances.values():  # one after the other: the first makes the database's root
            instance.start()
        time.sleep(5)  # the start-up's own work ends (not a measure)
        measured = {**instances, "ZEO server": zeo}
        found = {name: [] for name in measured}
        for number in range(rounds):
            before = {name: cpu_seconds(server.pid) for name, server in measured.items()}
            time.sleep(seconds)  # the measure: idle instances, for this long
            for name, server in measured.items():
                found[name].append((cpu_seconds(server.pid) - before[name]) * 60 / seconds)
            print(f"round {number + 1}: " + ", ".join(f"{name} {found[name][-1]:.2f} CPU s/min" for name in found),
                  file=sys.stderr, flush=True)
    finally:
        cluster.close()
    print(f"Idle instances on ZEO, {rounds} rounds of {seconds} s (CPU seconds per minute):")
    for name, values in found.items():
        print(f"  {name}: " + ", ".join(f"{value:.2f}" for value in values)
              + f" ({max(values) / 60 * 100:.2f} % of a core at most)")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="seconds of a round (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args()
    run(args.seconds, args.rounds)


if __name__ == "__main__":
    main()
