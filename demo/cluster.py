"""The demo cluster: a ZEO server and three Zope instances sharing it.

Run by ``make demo-cluster`` (``.venv/bin/python demo/cluster.py``). All of
it lives in var/cluster/ and listens on 127.0.0.1 only:

  zeo/        runzeo (a free port): Data.fs, blobs/, console.log
  frontend1/  runwsgi on :8080, pool-size 0: answers every page, runs no job
  frontend2/  runwsgi on :8081, the same
  worker/     runwsgi on a free port nobody needs: pool-size 2, runs the jobs

Each instance home (made by mkwsgiinstance) has its etc/ (zope.conf, and
the port in zope.ini, rewritten at each start) and its var/ (event.log,
Z4.log the access log, console.log; blobcache/, the ZEO client's cache).
The Plone site "plone" is created once, through frontend1's zope.conf, by
demo/instance/create_site.py, as ``make demo`` does. Ctrl-C (or SIGTERM)
stops the instances, then the ZEO server, and exits 0; if a process dies
on its own, the others are stopped and the exit code is 1.
"""

from pathlib import Path

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time


HOST = "127.0.0.1"
BIN = Path(sys.executable).parent  # the virtualenv's: runzeo, runwsgi, zconsole
DEMO = Path(__file__).resolve().parent
VAR = DEMO.parent / "var" / "cluster"
FRONTENDS = {"frontend1": 8080, "frontend2": 8081}
START_TIMEOUT = 300  # seconds for the instances to answer HTTP (they load Plone)
SITE_TIMEOUT = 600  # seconds for creating the Plone site
STOP_TIMEOUT = 30  # seconds for a process to end after SIGTERM, then SIGKILL

ZEO_CONF = """\
# Written by demo/cluster.py at each start.
<zeo>
  address {HOST}:{port}
</zeo>
<filestorage 1>
  path {dir}/Data.fs
  blob-dir {dir}/blobs
</filestorage>
"""

ZOPE_CONF = """\
# Written by demo/cluster.py at each start.
%define INSTANCE {home}
%import ZEO

instancehome $INSTANCE

<environment>
  CHAMELEON_CACHE $INSTANCE/var/cache
  zope_i18n_compile_mo_files true
</environment>

<zodb_db main>
  <clientstorage>
    server {HOST}:{zeo_port}
    storage 1
    blob-dir $INSTANCE/var/blobcache
    blob-cache-size 200MB
  </clientstorage>
  mount-point /
</zodb_db>

<product-config netsight.async>
  pool-size {pool_size}
</product-config>
"""


class Stopped(Exception):
    """SIGINT, SIGTERM or SIGHUP asked the cluster to stop."""


class Failed(Exception):
    """A process ended on its own, or was not ready in time."""


SIGNALS = []


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def accepts(port):
    """Something accepts TCP connections on HOST:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def answers(port):
    """An HTTP server answers on HOST:port (any status)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("HEAD", "/")
        connection.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class Child:
    """A command in a session of its own (the terminal's Ctrl-C is ours to
    handle), its output appended to ``log``."""

    def __init__(self, name, argv, log, env=None):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.name, self.log = name, log
        with open(log, "ab") as output:
            self.popen = subprocess.Popen(
                [str(arg) for arg in argv],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True, env=None if env is None else {**os.environ, **env},
            )

    def check(self):
        if (code := self.popen.poll()) is not None:
            raise Failed(f"{self.name} ended with code {code}; see {self.log}")


def wait_until(ready, timeout, what, children):
    """Poll ``ready()`` until it is true; raise Stopped on a signal, Failed
    if one of ``children`` ends or at the deadline."""
    deadline = time.monotonic() + timeout
    while not ready():
        if SIGNALS:
            raise Stopped
        for child in children:
            child.check()
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not ready after {timeout} s")
        time.sleep(0.1)


def stop(children):
    """SIGTERM to all of ``children``, then wait, SIGKILL any left at the deadline."""
    for child in children:
        if child.popen.poll() is None:
            child.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop within {STOP_TIMEOUT} s: SIGKILL")
            child.popen.kill()
            child.popen.wait()


def instance_home(name, port, pool_size, zeo_port):
    """The instance home var/cluster/<name> (made once), its configuration written."""
    home = VAR / name
    if not (home / "etc" / "site.zcml").exists():
        subprocess.run([BIN / "mkwsgiinstance", "--dir", home, "--user", "admin:admin"],
                       check=True, stdout=subprocess.DEVNULL)
        if name != "frontend1":  # one initial user, not three instances resetting it at once
            (home / "inituser").unlink()
    (home / "var" / "blobcache").mkdir(parents=True, exist_ok=True)
    conf = ZOPE_CONF.format(HOST=HOST, home=home, zeo_port=zeo_port, pool_size=pool_size)
    (home / "etc" / "zope.conf").write_text(conf)
    ini = home / "etc" / "zope.ini"  # mkwsgiinstance's: 127.0.0.1, logs in var/log/
    ini.write_text(re.sub(r"(?m)^port = \d+$", f"port = {port}", ini.read_text()))
    return home


def run(children):
    for name, port in FRONTENDS.items():
        if accepts(port):
            raise Failed(f"port {port} is in use (a `make demo` still running?)")
    zeo_port, worker_port = free_port(), free_port()
    zeo_dir = VAR / "zeo"
    zeo_dir.mkdir(parents=True, exist_ok=True)
    (zeo_dir / "zeo.conf").write_text(ZEO_CONF.format(HOST=HOST, port=zeo_port, dir=zeo_dir))
    instances = {name: (port, 0) for name, port in FRONTENDS.items()}
    instances["worker"] = (worker_port, 2)
    homes = {name: instance_home(name, port, size, zeo_port) for name, (port, size) in instances.items()}

    zeo = Child("the ZEO server", [BIN / "runzeo", "-C", zeo_dir / "zeo.conf"], zeo_dir / "console.log")
    children.append(zeo)
    wait_until(lambda: accepts(zeo_port), 60, "the ZEO server", [zeo])

    created = zeo_dir / "site-created"  # the Plone site exists in this Data.fs
    if not created.exists():
        print("Setting up the Plone site 'plone' (a minute or so)...")
        zope_conf = homes["frontend1"] / "etc" / "zope.conf"
        script = Child("creating the site", [BIN / "zconsole", "run", zope_conf, DEMO / "instance" / "create_site.py"],
                       homes["frontend1"] / "var" / "log" / "create_site.log", {"NETSIGHT_ASYNC_JOB_THREADS": "0"})
        children.append(script)
        wait_until(lambda: script.popen.poll() is not None, SITE_TIMEOUT, "creating the site", [zeo])
        children.remove(script)
        if script.popen.returncode:
            raise Failed(f"creating the site failed; see {script.log}")
        created.touch()

    for name, home in homes.items():
        children.append(Child(name, [BIN / "runwsgi", home / "etc" / "zope.ini"], home / "var" / "log" / "console.log"))
    for name, (port, _size) in instances.items():
        wait_until(lambda: answers(port), START_TIMEOUT, name, children)

    print(
        "\nThe demo cluster runs (log in as admin, password admin):\n"
        f"  http://localhost:{FRONTENDS['frontend1']}/plone/fibonacci  front-end, pool-size 0\n"
        f"  http://localhost:{FRONTENDS['frontend2']}/plone/fibonacci  front-end, pool-size 0\n"
        f"  worker: pool-size 2, runs the jobs; {HOST}:{worker_port}, for nobody to open\n"
        f"  ZEO server: {HOST}:{zeo_port}, storage and blobs in {zeo_dir}\n"
        "Start a job on :8080 and open its processing page on :8081 (change the port).\n"
        f"Logs: {VAR}/*/var/log/. Ctrl-C stops everything.\n"
    )
    wait_until(lambda: False, float("inf"), "the cluster", children)  # until a signal or a death


def main():
    sys.stdout.reconfigure(line_buffering=True)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: SIGNALS.append(signum))
    children = []
    code = 0
    try:
        run(children)
    except Stopped:
        print(f"\n{signal.Signals(SIGNALS[0]).name}: stopping the cluster...")
    except (Failed, subprocess.CalledProcessError) as exc:
        print(f"\nFailed: {exc}", file=sys.stderr)
        code = 1
    finally:
        stop([child for child in children if child.name != "the ZEO server"])  # its clients first
        stop([child for child in children if child.name == "the ZEO server"])
    print("Stopped." if code == 0 else "Stopped after the failure.")
    return code


if __name__ == "__main__":
    sys.exit(main())
