"""What every peer of bench/compare.py shares: the no-op job, the tiny WSGI app, the command line.

A peer module (rq_peer.py, procrastinate_peer.py, django_tasks_peer.py,
huey_peer.py) runs in .venv-bench (bench/peers/requirements.txt), never
in Zope's .venv. It defines

``prepare()``
    the queue's tables or keys, empty;
``start_job()``
    enqueue one no-op job (``job``, below); its id;
``state(job_id)``
    "queued", "running", "done" or "failed" (what the peer knows);
``result(job_id)``
    what the job returned ("done"), or None;
``commit_one()``
    the framework's commit of one small object (a Redis SET, a row);
``worker_argv(variant)``
    the command of one worker instance with a concurrency of 2;
``versions()``
    what is measured: names and versions;

and may define ``wsgi_app()`` (Django does: its own views). Otherwise
``app(peer)`` serves the same routes for every peer:

``/noop``    answers "done" (the framework's plain request)
``/commit``  commits one small object, answers "done"
``/start``   POST: enqueues a job, 303 to ``/status?id=<id>``
``/status``  ``{"state": ...}`` of ``?id=``
``/result``  the job's result, 404 while it has none

``python <peer>.py web PORT`` serves it with waitress (4 threads, as the
package's instances); ``python <peer>.py worker [VARIANT]`` replaces
itself with the worker; ``python <peer>.py prepare``; ``python <peer>.py
versions``. The connections come from the environment: BENCH_REDIS_URL,
BENCH_DSN; the job's marks go to BENCH_MARKS.
"""

from bench_marks import mark
from urllib.parse import parse_qs

import importlib
import json
import os
import sys


HOST = "127.0.0.1"
THREADS = 4  # waitress's threads: the package's instances have 4 (tests/instances.py)


def job():
    """The no-op job: notes when it began, returns "done"."""
    mark()
    return "done"


def app(peer):
    """The WSGI app of a peer without a web framework of its own."""

    def respond(start_response, status, body, content_type="text/plain", headers=()):
        body = body.encode("utf-8") if isinstance(body, str) else body
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
        return [body]

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("CONTENT_LENGTH"):
            environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))  # the form: unused
        if path == "/noop":
            return respond(start_response, "200 OK", "done")
        if path == "/commit":
            peer.commit_one()
            return respond(start_response, "200 OK", "done")
        if path == "/start" and environ["REQUEST_METHOD"] == "POST":
            job_id = peer.start_job()
            return respond(start_response, "303 See Other", "", headers=[("Location", f"/status?id={job_id}")])
        if path in ("/status", "/result") and "id" in query:
            job_id = query["id"][0]
            if path == "/status":
                return respond(start_response, "200 OK", json.dumps({"state": peer.state(job_id)}), "application/json")
            found = peer.result(job_id)
            if found is None:
                return respond(start_response, "404 Not Found", "no result")
            return respond(start_response, "200 OK", str(found))
        return respond(start_response, "404 Not Found", "not found")

    return application


def main(name):
    """The command line of the peer module ``name``, imported by its name: not as ``__main__``, so that its
    tasks have the names that its worker (which imports it) gives them."""
    peer = importlib.import_module(name)
    command, *args = sys.argv[1:] or ["versions"]
    if command == "web":
        import waitress

        wsgi = peer.wsgi_app() if hasattr(peer, "wsgi_app") else app(peer)
        waitress.serve(wsgi, host=HOST, port=int(args[0]), threads=THREADS, _quiet=True)
    elif command == "worker":
        argv = peer.worker_argv(args[0] if args else None)
        os.execvp(argv[0], argv)
    elif command == "prepare":
        peer.prepare()
    elif command == "versions":
        print(peer.versions())
    else:
        sys.exit(f"unknown command {command!r}: web PORT, worker [VARIANT], prepare, versions")
