"""Django 6's tasks (django.tasks) with django-tasks-db's database backend on PostgreSQL, for bench/compare.py.

The project is django_bench (its settings, the Trace model that the
committing view saves, the task, the views of common.py's routes, served
by Django's WSGI handler). django-tasks-db's ``db_worker`` runs one task
at a time: one worker instance with a concurrency of 2 is two
``db_worker`` processes, each looking for tasks every second when idle
(its default ``--interval``).
"""

from importlib.metadata import version

import common
import os
import sys


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_bench.settings")


def _setup():
    import django

    django.setup()


def wsgi_app():
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def prepare():
    _setup()
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    call_command("migrate", "--run-syncdb", verbosity=0)
    DBTaskResult.objects.all().delete()


def worker_argv(variant):
    admin = os.path.join(os.path.dirname(sys.executable), "django-admin")
    one = f"{admin} db_worker --no-startup-delay"
    return ["/bin/sh", "-c", f"{one} & {one} & wait"]


def versions():
    return f"Django {version('Django')}, django-tasks-db {version('django-tasks-db')}"


if __name__ == "__main__":
    common.main("django_tasks_peer")
