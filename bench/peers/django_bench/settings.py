"""The Django project of bench/peers/django_tasks_peer.py: PostgreSQL (BENCH_DSN), django-tasks-db, no middleware."""

import os


def _database():
    params = dict(part.split("=", 1) for part in os.environ.get("BENCH_DSN", "").split())
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.get("dbname", "django"),
        "USER": params.get("user", "postgres"),
        "HOST": params.get("host", "127.0.0.1"),
        "PORT": params.get("port", "5432"),
        "CONN_MAX_AGE": None,  # one connection a thread, kept: as the package's ZODB connections
    }


SECRET_KEY = "netsight-async-bench"  # a throwaway project on 127.0.0.1
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django_tasks_db", "django_bench"]
MIDDLEWARE = []  # the plain framework: no session, no CSRF (the peers' apps have no users)
ROOT_URLCONF = "django_bench.urls"
DATABASES = {"default": _database()}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
