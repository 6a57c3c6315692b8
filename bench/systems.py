"""The systems that bench/compare.py measures: the package's set-ups (Zope instances) and the peers (bench/peers/*.py).

A system has a name, a web side (``PackageWeb`` or ``PeerWeb``: the
paths of the plain, committing and starting POSTs, and a job's start,
state and result over HTTP), a marks file (each job appends its first
line's time: bench/peers/bench_marks.py), and a way to hold its queue for
a drain (``hold``, ``check_held``, ``release``):

the package, one instance (``OwnQueue``)
    two ``bench-hold`` jobs take the pool's two threads; the jobs started
    then wait in the instance's queue until their release file exists;
the package, a front-end and a worker (``FrontEnd``)
    the worker instance is stopped; the jobs started on the front-end
    wait in the database until it starts again;
a peer (``Peer``)
    its worker is not running; the jobs wait in its queue (Redis,
    PostgreSQL) until it starts.

The servers (Redis, PostgreSQL, ZEO, the instances, the peers' web apps
and workers) are processes of tests/helpers/instances.py: in a process group of
their own, stopped when the run ends however it ends.
"""

from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import free_port
from netsight.asynchronous.tests.helpers.instances import HOST
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import Process
from netsight.asynchronous.tests.helpers.instances import Server

import json
import load
import os
import socket
import subprocess
import time


BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
BENCH_PYTHON = BENCH.parent / ".venv-bench" / "bin" / "python"  # the peers' virtualenv (make bench makes it)
REDIS_SERVER = "/usr/bin/redis-server"
SITE = "/plone"
JOB = "bench-noop"  # bench/zope/netsight_bench: the package's no-op job that marks its first line
HOLD = "bench-hold"
POOL_SIZE = 2
ZCML = (
    '<include package="netsight.asynchronous.tests.helpers" file="views.zcml" />\n'
    '              <include package="netsight_bench" />'
)
# Every job waits in the queue (the default queue-limit, 20, would refuse a drain's 1,000).
PRODUCT_CONFIG = {"pool-size": str(POOL_SIZE), "queue-limit": "0"}


def environment(**values):
    """Set what the next processes inherit (tests/helpers/instances.py's processes take this process's environment)."""
    for key, value in values.items():
        os.environ[key] = str(value)


def relstorage_instance(cluster, dsn, name="relstorage"):
    """The package's instance on RelStorage (history-free, in the PostgreSQL database of ``dsn``), with the
    bench's settings and views, a member of ``cluster`` (stopped with it); neither its site made nor started."""
    from netsight.asynchronous.tests.system.tests.test_relstorage import RelStorageInstance

    instance = RelStorageInstance(cluster.directory / name, dsn=dsn, product_config=PRODUCT_CONFIG, zcml=ZCML)
    cluster.members.append(instance)
    return instance


def instance_environment(marks, package_source=None):
    """The environment of the package's instances: bench/zope (netsight_bench) and bench/peers (bench_marks);
    with ``package_source`` (a directory with the package's src/ and demo/src/), the package from there."""
    paths = [BENCH / "zope", PEERS]
    if package_source is not None:
        paths[:0] = [Path(package_source) / "src", Path(package_source) / "demo" / "src"]
    environment(PYTHONPATH=":".join(str(path) for path in paths), BENCH_MARKS=marks)


class Redis(Server):
    """Debian's redis-server on 127.0.0.1, a free port, nothing saved."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.directory / "redis.log"
        argv = [REDIS_SERVER, "--bind", HOST, "--port", self.port, "--save", "", "--appendonly", "no",
                "--dir", self.directory, "--logfile", self.log]
        self.process = Process("redis-server", argv, self.directory, self.directory / "output.log")

    @property
    def what(self):
        return f"redis-server on {HOST}:{self.port}"

    def url(self, db=0):
        return f"redis://{HOST}:{self.port}/{db}"

    def _ready(self):
        return listening(self.port)


def listening(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def redis_version():
    return subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True).stdout.split()[2].removeprefix("v=")


class PackageWeb:
    """The package's web side: a Member's POSTs (with plone.protect's token) to the site's views."""

    plain_path = f"{SITE}/@@noop-now"
    commit_path = f"{SITE}/@@noop-now-committed"
    start_path = f"{SITE}/@@{JOB}"

    def __init__(self, port):
        self.port = port
        self.headers = {**load.Session(port, *MEMBER).headers, "Content-Type": "application/x-www-form-urlencoded"}
        session = self.session()
        try:
            answer = session.get(f"{SITE}/@@own-template")
            assert answer.status == 200, answer
            marker = b'name="_authenticator" value="'
            begin = answer.body.index(marker) + len(marker)
            self.token = answer.body[begin : answer.body.index(b'"', begin)].decode("ascii")
        finally:
            session.close()

    def session(self):
        return load.Session(self.port, *MEMBER)

    def form(self):
        return f"_authenticator={self.token}"

    def start(self, session, view=JOB, **form):
        answer = session.post(f"{SITE}/@@{view}", {"_authenticator": self.token, **form})
        assert answer.status == 303, (answer, answer.body[:300])
        return answer.process_id

    def state(self, session, job_id, view=JOB):
        answer = session.get(f"{SITE}/@@{view}/completed?process_id={job_id}&output_json=1")
        assert answer.status == 200, (answer, answer.body[:300])
        return json.loads(answer.body)["state"]

    def result(self, session, job_id):
        return session.get(f"{SITE}/@@{JOB}/result?process_id={job_id}").body


class PeerWeb:
    """A peer's web side (bench/peers/common.py's routes)."""

    plain_path = "/noop"
    commit_path = "/commit"
    start_path = "/start"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    def __init__(self, port):
        self.port = port

    def session(self):
        return load.Session(self.port)

    def form(self):
        return ""

    def start(self, session):
        answer = session.post(self.start_path, {})
        assert answer.status == 303, (answer, answer.body[:300])
        return answer.location.split("id=", 1)[1]

    def state(self, session, job_id):
        answer = session.get(f"/status?id={job_id}")
        assert answer.status == 200, (answer, answer.body[:300])
        return json.loads(answer.body)["state"]

    def result(self, session, job_id):
        return session.get(f"/result?id={job_id}").body


class System:
    """What the measures need of a system; ``close()`` stops what it started."""

    name = "?"
    web = None
    marks = None
    deadline = None  # seconds: a drain or an end-to-end run is cut there (a slow system)

    def marks_size(self):
        try:
            return os.path.getsize(self.marks)
        except FileNotFoundError:
            return 0

    def hold(self):
        pass

    def check_held(self, ids):
        pass

    def release(self):
        pass

    def close(self):
        pass


class OwnQueue(System):
    """The package on one instance (pool-size 2): its own queue, held by two jobs that wait for a file."""

    def __init__(self, name, instance, marks):
        self.name = name
        self.instance = instance
        self.marks = marks
        self.web = PackageWeb(instance.port)
        self.release_file = None
        self.holds = []

    def hold(self):
        self.release_file = Path(self.marks).with_suffix(f".release{time.monotonic_ns()}")
        session = self.web.session()
        try:
            self.holds = [self.web.start(session, HOLD, release=str(self.release_file)) for _ in range(POOL_SIZE)]
            limit = time.monotonic() + 60
            while any(self.web.state(session, pid, HOLD) != "running" for pid in self.holds):
                if time.monotonic() > limit:
                    raise AssertionError(f"{self.name}: the holds did not run")
                time.sleep(0.05)
        finally:
            session.close()

    def check_held(self, ids):
        session = self.web.session()
        try:
            states = [self.web.state(session, pid, HOLD) for pid in self.holds]
        finally:
            session.close()
        if states != ["running"] * len(self.holds):
            raise AssertionError(f"{self.name}: the holds ended before the jobs were all queued: {states}")

    def release(self):
        if self.release_file is not None:
            self.release_file.touch()


class FrontEnd(System):
    """The package: jobs started on a front-end (pool-size 0), run by a worker instance (pool-size 2)."""

    deadline = 60  # seconds: the worker claims pool-size jobs a claim-interval (1 s by default)

    def __init__(self, name, front_end, worker, marks):
        self.name = name
        self.front_end = front_end
        self.worker = worker
        self.marks = marks
        self.web = PackageWeb(front_end.port)

    def hold(self):
        self.worker.stop()

    def release(self):
        if not self.worker.running:
            self.worker.start()


class PeerProcess(Server):
    """A peer's web app (``web PORT``) or worker (``worker VARIANT``): bench/peers/<module> in .venv-bench."""

    def __init__(self, directory, module, command, port=None):
        self.directory = Path(directory)
        self.port = port
        self.log = self.directory / f"{module}-{'-'.join(command)}.log"
        argv = [BENCH_PYTHON, PEERS / module, *command]
        self.process = Process(f"{module} {' '.join(command)}", argv, PEERS, self.log)

    @property
    def what(self):
        return self.process.name

    def _ready(self):
        return self.port is None or listening(self.port)


class Peer(System):
    """A peer: its web app served, its worker (one instance, a concurrency of 2) started and stopped."""

    def __init__(self, name, module, directory, variant=None, **env):
        self.name = name
        self.module = module
        self.directory = Path(directory)
        self.variant = variant
        self.marks = str(self.directory / f"{module}-{variant or 'marks'}.marks")
        self.env = {**env, "PYTHONPATH": PEERS, "BENCH_MARKS": self.marks}
        self.run("prepare")
        environment(**self.env)
        port = free_port()
        self.web_process = PeerProcess(self.directory, module, ["web", str(port)], port)
        self.web_process.start()
        self.web = PeerWeb(port)
        self.worker = PeerProcess(self.directory, module, ["worker", *([variant] if variant else [])])

    def run(self, command):
        """``python <module> <command>`` in .venv-bench; its output."""
        env = {**os.environ, **{key: str(value) for key, value in self.env.items()}}
        done = subprocess.run([BENCH_PYTHON, PEERS / self.module, command], env=env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode:
            raise AssertionError(f"{self.module} {command} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def versions(self):
        return self.run("versions")

    def empty(self):
        """An empty queue (what the start cost left in it goes)."""
        self.run("prepare")

    def hold(self):
        self.worker.stop()

    def release(self):
        environment(**self.env)
        self.worker.start()

    def close(self):
        self.worker.stop()
        self.web_process.stop()
