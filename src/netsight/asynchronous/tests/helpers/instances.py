"""Real Zope instances and ZEO servers in subprocesses, for tests that need
processes: a mounted database, several instances on one ZEO server, an
instance killed or stopped while a job runs.

Everything listens on 127.0.0.1 only, on free ports, in a temporary
directory; every wait is a poll with a deadline; every process is stopped
when the test run ends, however it ends (``Cluster.close``, atexit, and
Linux's parent-death signal when the run itself is killed).

A layer per test module, set up once (creating a Plone site takes
seconds to a minute; see test_mounted.py)::

    class TwoInstances(plone.testing.Layer):
        def setUp(self):
            self.cluster = Cluster("two-instances")
            zeo = self.cluster.zeo_server()
            zeo.start()
            self["instances"] = [self.cluster.instance(zeo=zeo) for _ in range(2)]
            self["instances"][0].create_site("/plone")  # zconsole run
            for instance in self["instances"]:
                instance.start()  # runwsgi; returns once it answers HTTP

        def tearDown(self):
            self.cluster.close()  # SIGTERM, then SIGKILL; removes the directory
            del self["instances"]

    TWO_INSTANCES = TwoInstances(name="NetsightAsync:TwoInstances")

A test then speaks HTTP (``Client``) to ``instance.url``, may ``kill()``,
``stop()`` or ``restart()`` an instance or the ZEO server, counts the
instance's threads (``instance.threads()``), and opens the storages once
the processes are gone (``instance.storage_path(name)``). ``with
logs_on_failure(instance):`` adds the logs' tails to whatever fails inside.

With a FileStorage (no ``zeo``) only one process may open the database at a
time: the site is created before ``start()``. On a ZEO server the site may
be created while instances run.
"""

from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.parse import urljoin

import atexit
import base64
import contextlib
import http.client
import json
import lxml.html
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request


HOST = "127.0.0.1"
BIN = Path(sys.executable).parent  # the virtualenv's: runwsgi, runzeo, zconsole
START_TIMEOUT = 180  # seconds for an instance to answer HTTP (it loads Plone's ZCML)
STOP_TIMEOUT = 30  # seconds for a process to end after SIGTERM before SIGKILL
SCRIPT_TIMEOUT = 600  # seconds for a zconsole script (creating a Plone site: 30-60)
HTTP_TIMEOUT = 60  # seconds for one HTTP request
POLL = 0.05  # seconds between two looks at a condition

MANAGER = ("admin", "secret")  # a Manager in the Zope root's user folder
MEMBER = ("member", "secret")  # a Member of the Plone site
PROFILES = ("plone.app.contenttypes:default", "netsight.async:default")

# Keep the temporary directories (configuration, logs, Data.fs) for a look
# after the run: NETSIGHT_ASYNC_KEEP_INSTANCES=1.
KEEP = os.environ.get("NETSIGHT_ASYNC_KEEP_INSTANCES", "") not in ("", "0")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what, explain=None):
    """Poll ``predicate`` until it returns something true, and return that.

    At the deadline raise AssertionError naming ``what``, with ``explain()``
    (a log's tail, say) added. ``predicate`` may raise to give up early.
    """
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            message = f"Timed out after {timeout}s waiting for {what}"
            if explain is not None:
                message += "\n" + explain()
            raise AssertionError(message)
        time.sleep(POLL)
    return value


def tail(path, lines=60):
    """The last ``lines`` lines of a text file, or a note that it is missing."""
    path = Path(path)
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(text)


@contextlib.contextmanager
def logs_on_failure(*processes, lines=60):
    """Add the log tails of ``processes`` to an exception raised inside."""
    try:
        yield
    except BaseException as exc:
        for process in processes:
            exc.add_note(process.log_tail(lines))
        raise


# Every process that a test started and that has not ended: the run's exit
# stops them (atexit runs on a normal end, a failure and Ctrl-C).
_RUNNING = set()


@atexit.register
def _stop_all():
    for process in list(_RUNNING):
        process.stop(timeout=5)


# The first code a child runs, before it executes the command: Linux sends
# it SIGKILL when the thread that started it ends, so that nothing outlives
# a killed test run (start processes from the test run's main thread, as
# layers and tests do). SIGINT and SIGQUIT are at their defaults, which a
# run started in the background by a shell without job control (``make test
# &``) has ignored and its children would inherit (an instance leaves an
# ignored SIGINT ignored). The command then replaces it (os.execv), same pid.
_LAUNCHER = textwrap.dedent(
    """
    import ctypes, os, signal, sys
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass
    if os.getppid() != int(sys.argv[1]):
        sys.exit("the test run is gone")
    for ignored in (signal.SIGINT, signal.SIGQUIT):  # as a service manager starts it, however the run was started
        signal.signal(ignored, signal.SIG_DFL)
    os.execv(sys.argv[2], sys.argv[2:])
    """
)


def _child_argv(argv):
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *map(str, argv)]


# What the test run's own Zope and plone.testing put into its environment
# is not for the instances (ZOPETESTCASE changes how Plone behaves).
_NOT_INHERITED = frozenset({"ZOPETESTCASE", "INSTANCE_HOME", "CLIENT_HOME"})


def _child_env(**extra):
    env = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
    env.update(extra)
    return env


class Process:
    """A command in a process group of its own; its output goes to a file."""

    def __init__(self, name, argv, cwd, output, env=None):
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.cwd = Path(cwd)
        self.output = Path(output)
        self.env = env or {}  # set in its environment besides this process's
        self.popen = None

    def __repr__(self):
        return f"<Process {self.name} pid={self.pid}>"

    @property
    def pid(self):
        return None if self.popen is None else self.popen.pid

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self):
        return None if self.popen is None else self.popen.poll()

    def start(self):
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with open(self.output, "ab") as output:
            output.write(f"\n--- {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            output.flush()
            self.popen = subprocess.Popen(
                _child_argv(self.argv),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_child_env(**self.env),
                start_new_session=True,  # its own process group: Ctrl-C is ours to handle
            )
        _RUNNING.add(self)

    def send(self, sig):
        """Send ``sig`` to the process group (nothing if it ended)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def wait(self, timeout):
        """Wait up to ``timeout`` seconds for the end; True if it ended."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _RUNNING.discard(self)
        return True

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL; the return code."""
        self.send(sig)
        if not self.wait(timeout):
            self.kill()
        return self.returncode

    def kill(self):
        """SIGKILL, and wait for the end; the return code."""
        self.send(signal.SIGKILL)
        self.wait(None)
        return self.returncode

    def threads(self):
        """The number of the process's threads (Linux: /proc/<pid>/status)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith("Threads:")]
        return int(line.split()[1])

    def check_running(self, explain):
        """Raise at once (with ``explain()``) if the process ended."""
        if not self.running:
            raise AssertionError(f"{self.name} ended with code {self.returncode}\n{explain()}")


class Cluster:
    """A temporary directory with the ZEO servers and instances of a layer.

    ``close()`` stops them all (SIGTERM, then SIGKILL) and removes the
    directory, unless NETSIGHT_ASYNC_KEEP_INSTANCES is set.
    """

    def __init__(self, name="netsight-async"):
        self.directory = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.members = []
        self._closed = False
        atexit.register(self.close)

    def _path(self, prefix):
        number = sum(1 for member in self.members if member.directory.name.startswith(prefix)) + 1
        return self.directory / f"{prefix}{number}"

    def zeo_server(self, **options):
        """A new ZEOServer in the cluster's directory (not started)."""
        server = ZEOServer(self._path("zeo"), **options)
        self.members.append(server)
        return server

    def instance(self, **options):
        """A new Instance in the cluster's directory (not started)."""
        instance = Instance(self._path("instance"), **options)
        self.members.append(instance)
        return instance

    def close(self):
        if self._closed:
            return
        self._closed = True
        # Instances first: they are the ZEO servers' clients.
        for member in sorted(self.members, key=lambda member: isinstance(member, ZEOServer)):
            member.stop()
        if KEEP:
            print(f"\nKept {self.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


class Server:
    """A server in a subprocess (``self.process``): started, waited for, stopped.

    A subclass says when it is ready (``_ready``), what it is (``what``)
    and where it logs (``self.log``).
    """

    what = "the server"

    @property
    def pid(self):
        return self.process.pid

    @property
    def running(self):
        return self.process.running

    def start(self, timeout=START_TIMEOUT):
        """Start the process; return once it is ready."""
        self.process.start()
        wait_until(self._started, timeout, self.what, self.log_tail)

    def _started(self):
        self.process.check_running(self.log_tail)
        return self._ready()

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send ``sig`` (SIGTERM), wait ``timeout`` seconds, then SIGKILL; the return code."""
        return self.process.stop(sig, timeout)

    def kill(self):
        """SIGKILL: the process ends at once, whatever it was doing; the return code."""
        return self.process.kill()

    def restart(self, timeout=START_TIMEOUT):
        self.stop()
        self.start(timeout)

    def log_tail(self, lines=60):
        return (
            f"--- {self.log} (last {lines} lines)\n{tail(self.log, lines)}\n"
            f"--- {self.process.output} (last {lines} lines)\n{tail(self.process.output, lines)}"
        )


class ZEOServer(Server):
    """``runzeo`` on 127.0.0.1, FileStorages and blob directories of its own.

    ``storages`` names the storages it serves ("1", the main database's, by
    default); an instance's mounted database uses the storage of its name.
    The port stays the same across restarts, so that clients reconnect.
    """

    def __init__(self, directory, storages=("1",), port=None):
        self.directory = Path(directory)
        self.storages = tuple(storages)
        self.port = port or free_port()
        self.conf = self.directory / "zeo.conf"
        self.log = self.directory / "zeo.log"
        self.process = Process(
            "runzeo", [BIN / "runzeo", "-C", self.conf], self.directory, self.directory / "output.log"
        )
        self._write_config()

    def __repr__(self):
        return f"<ZEOServer {self.address} pid={self.pid}>"

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    @property
    def what(self):
        return f"the ZEO server on {self.address}"

    def storage_path(self, storage="1"):
        return self.directory / ("Data.fs" if storage == "1" else f"{storage}.fs")

    def blob_dir(self, storage="1"):
        return self.directory / "blobs" / storage

    def _write_config(self):
        (self.directory / "blobs").mkdir(parents=True, exist_ok=True)
        storages = "".join(
            f"<filestorage {name}>\n"
            f"  path {self.storage_path(name)}\n"
            f"  blob-dir {self.blob_dir(name)}\n"
            "</filestorage>\n"
            for name in self.storages
        )
        self.conf.write_text(
            f"<zeo>\n  address {self.address}\n</zeo>\n"
            f"{storages}"
            "<eventlog>\n  level INFO\n"
            f"  <logfile>\n    path {self.log}\n  </logfile>\n</eventlog>\n"
        )

    def _ready(self):
        """runzeo accepts connections."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            return sock.connect_ex((HOST, self.port)) == 0


class Instance(Server):
    """A Zope instance home, served by ``runwsgi`` (waitress) on 127.0.0.1.

    ``zeo``: a ZEOServer whose storages hold the databases (otherwise
    FileStorages in the instance home). ``mounts``: extra databases,
    ``{name: mount point}``, e.g. ``{"sites": "/sites"}`` (Products.ZODBMountPoint;
    ``create_site`` creates the mount points). ``product_config``: the keys
    of ``<product-config netsight.async>``. ``shared_blob_dir``: with
    ``zeo``, use the server's blob directories instead of a blob cache.
    ``http_threads``: waitress's threads. ``zcml``: what etc/site.zcml
    includes after Zope's products (Plone, and the add-ons it includes
    through plone.autoinclude, netsight.async among them): by default the
    test views.
    """

    TEST_VIEWS = '<include package="netsight.asynchronous.tests.helpers" file="views.zcml" />'

    def __init__(
        self,
        directory,
        *,
        zeo=None,
        mounts=None,
        product_config=None,
        shared_blob_dir=False,
        port=None,
        http_threads=4,
        zcml=TEST_VIEWS,
        log_level="INFO",
    ):
        self.directory = Path(directory)
        self.zeo = zeo
        self.mounts = dict(mounts or {})
        self.product_config = dict(product_config or {})
        self.shared_blob_dir = shared_blob_dir
        self.port = port or free_port()
        self.http_threads = http_threads
        self.zcml = zcml
        self.log_level = log_level
        self.etc = self.directory / "etc"
        self.var = self.directory / "var"
        self.zope_conf = self.etc / "zope.conf"
        self.zope_ini = self.etc / "zope.ini"
        self.log = self.var / "log" / "event.log"
        self.process = Process(
            "runwsgi", [BIN / "runwsgi", self.zope_ini], self.directory, self.var / "log" / "output.log"
        )
        if zeo is not None:
            missing = {self._zeo_storage(name) for name in ("main", *self.mounts)} - set(zeo.storages)
            if missing:
                raise ValueError(f"{zeo!r} serves no storage {sorted(missing)}")
        self.write_config()

    def __repr__(self):
        return f"<Instance {self.url} pid={self.pid}>"

    @property
    def url(self):
        """The root URL, http://127.0.0.1:<port>."""
        return f"http://{HOST}:{self.port}"

    @property
    def what(self):
        return f"the instance on {self.url}"

    def threads(self):
        """How many threads the running instance has (Linux)."""
        return self.process.threads()

    def storage_path(self, name="main"):
        """The FileStorage of database ``name`` (in the ZEO server's directory with ``zeo``)."""
        if self.zeo is not None:
            return self.zeo.storage_path(self._zeo_storage(name))
        return self.var / "filestorage" / ("Data.fs" if name == "main" else f"{name}.fs")

    @staticmethod
    def _zeo_storage(name):
        return "1" if name == "main" else name

    # Configuration.

    def write_config(self):
        """Write etc/zope.conf, etc/site.zcml and etc/zope.ini (again)."""
        self.etc.mkdir(parents=True, exist_ok=True)
        for name in ("log", "cache", "filestorage", "blobstorage", "blobcache"):
            (self.var / name).mkdir(parents=True, exist_ok=True)
        self.zope_conf.write_text(self._zope_conf())
        (self.etc / "site.zcml").write_text(self._site_zcml())
        self.zope_ini.write_text(self._zope_ini())

    def _storage(self, name):
        if self.zeo is None:
            return (
                "  <filestorage>\n"
                f"    path {self.storage_path(name)}\n"
                f"    blob-dir $INSTANCE/var/blobstorage/{name}\n"
                "  </filestorage>\n"
            )
        storage = self._zeo_storage(name)
        if self.shared_blob_dir:
            blobs = f"    blob-dir {self.zeo.blob_dir(storage)}\n    shared-blob-dir on\n"
        else:
            blobs = f"    blob-dir $INSTANCE/var/blobcache/{name}\n    shared-blob-dir off\n"
        return (
            "  <clientstorage>\n"
            f"    server {self.zeo.address}\n"
            f"    storage {storage}\n"
            f"{blobs}"
            "    wait-timeout 60\n"
            "  </clientstorage>\n"
        )

    def _zope_conf(self):
        databases = "".join(
            f"<zodb_db {name}>\n{self._storage(name)}  mount-point {mount_point}\n</zodb_db>\n\n"
            for name, mount_point in {"main": "/", **self.mounts}.items()
        )
        product_config = ""
        if self.product_config:
            keys = "".join(f"  {key} {value}\n" for key, value in self.product_config.items())
            product_config = f"<product-config netsight.async>\n{keys}</product-config>\n"
        return (
            "# Written by netsight.asynchronous.tests.helpers.instances.\n"
            f"%define INSTANCE {self.directory}\n\n"
            "instancehome $INSTANCE\n\n"
            + ("%import ZEO\n\n" if self.zeo is not None else "")
            + "<environment>\n"
            "  CHAMELEON_CACHE $INSTANCE/var/cache\n"
            "  zope_i18n_compile_mo_files true\n"
            "</environment>\n\n"
            f"{databases}{product_config}"
        )

    def _site_zcml(self):
        # Zope's own (mkwsgiinstance), without package-includes: Zope's
        # products, among them Products.CMFPlone, which auto-includes the
        # add-ons of the "plone" target (netsight.async among them).
        return textwrap.dedent(
            f"""\
            <configure
                xmlns="http://namespaces.zope.org/zope"
                xmlns:meta="http://namespaces.zope.org/meta"
                xmlns:five="http://namespaces.zope.org/five">

              <include package="Zope2.App" />
              <five:loadProducts file="meta.zcml" />
              <five:loadProducts />
              <five:loadProductsOverrides />

              {self.zcml}

            </configure>
            """
        )

    def _zope_ini(self):
        # mkwsgiinstance's, without the access log and the console: the
        # event log (errors among it) goes to var/log/event.log only.
        return textwrap.dedent(
            f"""\
            [app:zope]
            use = egg:Zope#main
            zope_conf = %(here)s/zope.conf

            [server:main]
            use = egg:waitress#main
            host = {HOST}
            port = {self.port}
            threads = {self.http_threads}

            [pipeline:main]
            pipeline =
                egg:Zope#httpexceptions
                zope

            [loggers]
            keys = root, waitress.queue

            [handlers]
            keys = eventlog

            [formatters]
            keys = generic

            [formatter_generic]
            format = %(asctime)s %(levelname)s [%(name)s:%(lineno)s][%(threadName)s] %(message)s
            datefmt = %Y-%m-%d %H:%M:%S

            [logger_root]
            level = {self.log_level}
            handlers = eventlog

            [logger_waitress.queue]
            level = WARNING
            handlers = eventlog
            qualname = waitress.queue
            propagate = 0

            [handler_eventlog]
            class = FileHandler
            args = (r'{self.log}', 'a')
            level = NOTSET
            formatter = generic
            """
        )

    # zconsole scripts.

    def run_script(self, code, timeout=SCRIPT_TIMEOUT, job_threads=0, **params):
        """Run ``code`` with ``zconsole run`` (``app`` is the Zope root).

        ``params`` reach the script as JSON in the environment variable
        NETSIGHT_ASYNC_SCRIPT. With ``job_threads`` 0 (the default, as
        deployment.rst advises for a script) it takes no job queued in the
        database; None: the instance's own setting. Returns the script's
        output; raises AssertionError with it (and the log's tail) if the
        script fails.
        """
        if self.running and self.zeo is None:
            raise RuntimeError("a FileStorage is open in the running instance: stop it first")
        scripts = self.var / "scripts"
        scripts.mkdir(parents=True, exist_ok=True)
        script = scripts / f"script{len(list(scripts.iterdir())) + 1}.py"
        script.write_text(textwrap.dedent(code))
        env = _child_env(NETSIGHT_ASYNC_SCRIPT=json.dumps(params))
        if job_threads is not None:
            env["NETSIGHT_ASYNC_JOB_THREADS"] = str(job_threads)
        try:
            done = subprocess.run(
                _child_argv([BIN / "zconsole", "run", self.zope_conf, script]),
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            output = (exc.output or b"").decode("utf-8", "replace")
            raise AssertionError(f"{script} took more than {timeout}s:\n{output}") from None
        output = done.stdout.decode("utf-8", "replace")
        if done.returncode:
            raise AssertionError(
                f"{script} failed ({done.returncode}):\n{output}\n{self.log_tail()}"
            )
        return output

    def create_site(self, path="/plone", profiles=PROFILES, managers=(MANAGER,), members=(MEMBER,)):
        """Create the mount points, Managers at the Zope root, the Plone site
        at ``path`` with ``profiles`` and Members in it; what exists is kept.
        """
        return self.run_script(
            SITE_SCRIPT,
            path=path,
            profiles=list(profiles),
            managers=[list(user) for user in managers],
            members=[list(user) for user in members],
            mounts=list(self.mounts.values()),
        )

    # The server.

    def _ready(self):
        """runwsgi answers HTTP."""
        try:
            connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
            try:
                connection.request("HEAD", "/")
                connection.getresponse().read()
            finally:
                connection.close()
        except OSError:
            return False
        return True



# Run by Instance.create_site with zconsole, which gives it `app`, the Zope
# root (of the main database), with Zope's system user as the security
# manager. Products.ZODBMountPoint's manage_addMounts creates a mount point
# (Zope does not make them from zope.conf by itself).
SITE_SCRIPT = """
from AccessControl.SecurityManagement import newSecurityManager
from Products.CMFPlone.factory import addPloneSite
from zope.component.hooks import setSite

import json
import os
import transaction

params = json.loads(os.environ["NETSIGHT_ASYNC_SCRIPT"])
app = globals()["app"]

for name, password in params["managers"]:
    if app.acl_users.getUserById(name) is None:
        app.acl_users.userFolderAddUser(name, password, ["Manager"], [])
for path in params["mounts"]:
    if app.unrestrictedTraverse(path.lstrip("/"), None) is None:
        from Products.ZODBMountPoint.MountedObject import manage_addMounts

        manage_addMounts(app, [path])
        print(f"Mounted {path}.")
transaction.commit()

manager = params["managers"][0][0]
newSecurityManager(None, app.acl_users.getUserById(manager).__of__(app.acl_users))
parent_path, site_id = params["path"].rsplit("/", 1)
parent = app.unrestrictedTraverse(parent_path.lstrip("/")) if parent_path.strip("/") else app
if site_id not in parent.objectIds():
    addPloneSite(parent, site_id, extension_ids=params["profiles"])
    print(f"Created the Plone site {params['path']}.")
site = parent[site_id]
setSite(site)
for name, password in params["members"]:
    if site.acl_users.getUserById(name) is None:
        site.acl_users.userFolderAddUser(name, password, ["Member"], [])
transaction.commit()
from netsight.asynchronous.maintenance import MAINTENANCE
MAINTENANCE.release(app._p_jar.db())  # its passes end before the databases close
for db in app._p_jar.db().databases.values():
    db.close()  # FileStorages save their index
"""


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Response:
    """What a ``Client`` request got: status, headers, body (bytes)."""

    def __init__(self, url, status, headers, body):
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return f"<Response {self.status} {self.url}>"

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    @property
    def location(self):
        """The absolute URL of the Location header, or None."""
        location = self.headers.get("Location")
        return None if location is None else urljoin(self.url, location)


class Client:
    """A plain HTTP client (urllib) that follows no redirect, returns every
    HTTP status as a Response (raises only if no answer comes), keeps
    cookies, and logs in with HTTP basic auth if given ``user``/``password``."""

    def __init__(self, user=None, password=None, timeout=HTTP_TIMEOUT):
        self.timeout = timeout
        self.headers = {}
        if user is not None:
            credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {credentials}"
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(
            NoRedirects, urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def request(self, method, url, data=None, headers=None):
        if isinstance(data, dict):
            data = urlencode(data, doseq=True).encode("ascii")
        headers = {**self.headers, **(headers or {})}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return Response(url, response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(url, error.code, error.headers, error.read())

    def get(self, url, headers=None):
        return self.request("GET", url, headers=headers)

    def post(self, url, data, headers=None):
        """POST ``data``: a dict (form-encoded) or bytes."""
        return self.request("POST", url, data=data, headers=headers)

    def token(self, url):
        """plone.protect's token for this user: the ``_authenticator`` of the
        form that ``url`` renders (e.g. ``<site>/@@own-template``); None if none."""
        response = self.get(url)
        assert response.status == 200, (response, response.text[:500])
        inputs = lxml.html.fromstring(response.body).xpath("//input[@name='_authenticator']/@value")
        return inputs[0] if inputs else None
