"""Django with django-tasks-db on PostgreSQL, for bench/compare.py: settings, the trace model, the task, the views."""
