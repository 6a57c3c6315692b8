"""HTTP for the benchmarks: keep-alive sessions, a request-rate load generator, a streamed download.

A ``Session`` is one HTTP/1.1 connection (``http.client``) to an instance on
127.0.0.1, kept open between requests, logged in with HTTP basic auth; it
follows no redirect. ``rate`` sends one GET over several keep-alive
connections, as fast as the server answers, for a fixed time (wrk where it
is installed, else Python threads). ``Session.stream``
reads a body a chunk at a time, never whole, and gives its length and
sha256.
"""

from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import base64
import hashlib
import http.client
import re
import shutil
import subprocess
import threading
import time


HOST = "127.0.0.1"
TIMEOUT = 120  # seconds for one answer (a 100 MB result included)
CHUNK = 1 << 16  # bytes read at a time from a streamed body


class Answer:
    """A status, the headers and the body (bytes) of one response, and how long it took."""

    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    def __repr__(self):
        return f"<Answer {self.status} {len(self.body)} bytes {self.seconds * 1000:.1f} ms>"

    @property
    def location(self):
        """The Location header's path and query (``/plone/@@noop/processing?process_id=…``)."""
        location = urlsplit(self.headers.get("Location", ""))
        return f"{location.path}?{location.query}" if location.query else location.path

    @property
    def process_id(self):
        """The ``process_id`` of a start's redirect."""
        return parse_qs(urlsplit(self.headers.get("Location", "")).query)["process_id"][0]


class Session:
    """One keep-alive connection to ``port`` on 127.0.0.1, as ``user`` (basic auth)."""

    def __init__(self, port, user=None, password=None, timeout=TIMEOUT):
        self.port = port
        self.timeout = timeout
        self.headers = {}
        if user is not None:
            credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {credentials}"
        self.connection = None

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, form):
        """POST ``form`` (a dict), form-encoded."""
        body = urlencode(form, doseq=True).encode("ascii")
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def request(self, method, path, body=None, headers=None):
        """Send one request and read the whole answer; an Answer, timed from send to last byte."""
        began = time.perf_counter()
        response = self._send(method, path, body, headers)
        data = response.read()
        self._done(response)
        return Answer(response.status, response.headers, data, time.perf_counter() - began)

    def stream(self, path, chunk=CHUNK):
        """GET ``path``, reading the body ``chunk`` bytes at a time: ``(status, length, sha256 hex)``."""
        response = self._send("GET", path)
        digest, length = hashlib.sha256(), 0
        while data := response.read(chunk):
            digest.update(data)
            length += len(data)
        self._done(response)
        return response.status, length, digest.hexdigest()

    def _send(self, method, path, body=None, headers=None):
        """The response to a request, on the open connection; once again on a new one if it was closed."""
        headers = {**self.headers, **(headers or {})}
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # the server closed a kept-alive connection: open another
                if attempt == 2:
                    raise
                continue
            return response

    def _done(self, response):
        """The answer was read: forget the connection if the server closes it."""
        if response.will_close:
            self.close()


def rate(port, path, seconds, clients, user=None, password=None):
    """Requests per second that ``clients`` keep-alive connections get for GET ``path`` in ``seconds``.

    Each connection sends its next request as soon as the last answer came:
    with wrk (one thread) where it is installed, else with Python threads.
    Returns ``(requests per second, requests, answers other than 2xx/3xx)``.
    """
    headers = Session(port, user, password).headers
    if shutil.which("wrk"):
        return _wrk(port, path, seconds, clients, headers)
    return _threads(port, path, seconds, clients, headers)


def generator():
    """What ``rate`` sends its requests with."""
    return "wrk" if shutil.which("wrk") else "Python threads"


def _wrk(port, path, seconds, clients, headers):
    """``rate`` with wrk: its Requests/sec, requests, and non-2xx or 3xx responses."""
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, f"http://{HOST}:{port}{path}"], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output)[1])
    per_second = float(re.search(r"Requests/sec:\s*([\d.]+)", output)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return per_second, requests, int(errors[1]) if errors else 0


def _threads(port, path, seconds, clients, headers):
    """``rate`` with a Python thread and a Session per connection."""
    counts = [[0, 0] for _ in range(clients)]
    deadline = time.perf_counter() + seconds

    def client(count):
        session = Session(port)
        session.headers = headers
        try:
            while time.perf_counter() < deadline:
                answer = session.get(path)
                count[0] += 1
                if not 200 <= answer.status < 400:
                    count[1] += 1
        finally:
            session.close()

    elapsed = run_together(threading.Thread(target=client, args=(count,), daemon=True) for count in counts)
    requests = sum(count[0] for count in counts)
    return requests / elapsed, requests, sum(count[1] for count in counts)


def jobs_from_clients(jobs, clients, new_session, one_job, deadline=None):
    """``jobs`` jobs shared out among ``clients`` threads, each with a session of
    its own (``new_session()``), each job done by ``one_job(session)``: the
    outcomes, in the order they came, and the seconds it all took. With a
    ``deadline`` (seconds), no client starts a job after it."""
    outcomes = []
    lock = threading.Lock()
    shares = [jobs // clients + (1 if number < jobs % clients else 0) for number in range(clients)]
    began = time.monotonic()

    def client(share):
        session = new_session()
        try:
            for _ in range(share):
                if deadline is not None and time.monotonic() - began > deadline:
                    break
                outcome = one_job(session)
                with lock:
                    outcomes.append(outcome)
        finally:
            session.close()

    seconds = run_together(threading.Thread(target=client, args=(share,), daemon=True) for share in shares)
    return outcomes, seconds


def run_together(threads):
    """Start ``threads`` at once and wait for them all; the seconds it took."""
    threads = list(threads)
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began
