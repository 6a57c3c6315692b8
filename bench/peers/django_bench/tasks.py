"""The no-op task (bench/peers/common.py's job)."""

from django.tasks import task

import common


@task
def noop():
    return common.job()
