"""A throwaway PostgreSQL server for tests: Debian's postgresql
(``/usr/lib/postgresql/<version>/bin``; ``make test`` installs it).

``PostgreSQL()`` runs ``initdb`` in a new temporary directory; ``start()``
runs the server on 127.0.0.1 on a free port (TCP only, no Unix socket,
trust authentication, no fsync: nothing in it is meant to last) and returns
once it accepts connections; ``create_database(name)`` answers a libpq DSN
for it; ``close()`` stops the server and removes the directory
(NETSIGHT_ASYNC_KEEP_INSTANCES keeps it, as instances.py does)::

    postgresql = PostgreSQL()
    try:
        postgresql.start()
        dsn = postgresql.create_database("zodb")
        ...
    finally:
        postgresql.close()

PostgreSQL refuses to run as root: when the tests run as root, as they do
here, initdb and the server run as the system user ``postgres`` (the
package makes it; else ``nobody``) through ``setpriv``, and the directory
is that user's. The server is not started by ``pg_ctl``, which would
detach it: ``postgres`` runs in the foreground, a child of the test run
like the servers of instances.py, so that Linux's parent-death signal ends
it with a killed test run (``setpriv --pdeathsig`` sets the signal again
after the change of user, which clears it). Its log is its output,
``postgres.log`` in the directory.
"""

from pathlib import Path

from netsight.asynchronous.tests.helpers.instances import free_port
from netsight.asynchronous.tests.helpers.instances import HOST
from netsight.asynchronous.tests.helpers.instances import KEEP
from netsight.asynchronous.tests.helpers.instances import Process
from netsight.asynchronous.tests.helpers.instances import Server
from netsight.asynchronous.tests.helpers.instances import STOP_TIMEOUT

import atexit
import contextlib
import os
import psycopg2
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile


INITDB_TIMEOUT = 120  # seconds for initdb (1-2 here)
SUPERUSER = "postgres"  # the database role that initdb makes
# The account the server runs as when the tests run as root: the one that
# Debian's package makes, else nobody.
SYSTEM_USERS = ("postgres", "nobody")
SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "unix_socket_directories": "''",
    # A throwaway database: speed over durability.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def bindir():
    """The directory of Debian's PostgreSQL server programs, the newest version's."""
    found = sorted(
        (path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        key=lambda path: [int(part) for part in path.parent.name.split(".") if part.isdigit()],
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(
            "No PostgreSQL server (initdb) found: apt-get install postgresql (make test does)"
        )
    return Path(initdb).parent


def system_user():
    """The passwd entry of the first of SYSTEM_USERS that exists."""
    for name in SYSTEM_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(f"None of the users {SYSTEM_USERS} exists to run PostgreSQL as")


class PostgreSQL(Server):
    """A PostgreSQL server in a temporary directory, on 127.0.0.1 and a free port."""

    def __init__(self, name="netsight-async-postgresql", port=None):
        self.bin = bindir()
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.data = self.directory / "data"
        self.log = self.directory / "initdb.log"
        self._closed = False
        atexit.register(self.close)
        self.user = None
        if os.geteuid() == 0:
            self.user = system_user()
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        self.process = Process(
            "postgres",
            self._as_user([self.bin / "postgres", "-D", self.data], pdeathsig=True),
            self.directory,
            self.directory / "postgres.log",
        )
        self._initdb()

    def __repr__(self):
        return f"<PostgreSQL {HOST}:{self.port} pid={self.pid}>"

    @property
    def what(self):
        return f"PostgreSQL on {HOST}:{self.port}"

    def _as_user(self, argv, pdeathsig=False):
        """``argv`` run as the server's system user (when we are root)."""
        if self.user is None:
            return argv
        return [
            shutil.which("setpriv") or "/usr/bin/setpriv",  # util-linux; the launcher needs a path
            f"--reuid={self.user.pw_uid}",
            f"--regid={self.user.pw_gid}",
            "--init-groups",
            *(["--pdeathsig=KILL"] if pdeathsig else []),
            "--",
            *argv,
        ]

    def _initdb(self):
        argv = [
            self.bin / "initdb",
            "--pgdata", self.data,
            "--username", SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--no-locale",
            "--no-sync",
        ]
        with open(self.log, "wb") as log:
            done = subprocess.run(
                [str(arg) for arg in self._as_user(argv)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=INITDB_TIMEOUT,
            )
        if done.returncode:
            raise AssertionError(f"initdb failed ({done.returncode}):\n{self.log_tail()}")
        settings = "".join(f"{key} = {value}\n" for key, value in {**SETTINGS, "port": self.port}.items())
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\n# netsight.asynchronous.tests.helpers.postgres\n{settings}")

    def dsn(self, dbname="postgres"):
        return f"host={HOST} port={self.port} dbname={dbname} user={SUPERUSER}"

    def _ready(self):
        """The server accepts connections."""
        try:
            psycopg2.connect(self.dsn(), connect_timeout=1).close()
        except psycopg2.OperationalError:
            return False
        return True

    def create_database(self, name):
        """Create the database ``name``; its DSN."""
        connection = psycopg2.connect(self.dsn())
        try:
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.dsn(name)

    def stop(self, sig=signal.SIGINT, timeout=STOP_TIMEOUT):
        """Shut down (SIGINT to the postmaster alone: a fast shutdown), then
        SIGKILL to its process group; the return code."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
        if not self.process.wait(timeout):
            self.process.kill()
        return self.process.returncode

    def close(self):
        """Stop the server and remove its directory."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        if KEEP:
            print(f"\nKept {self.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)
