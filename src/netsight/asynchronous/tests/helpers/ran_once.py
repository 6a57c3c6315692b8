"""A job that notes each of its runs: its process id, one line in its instance's var/ran-jobs (test_claims_cluster)."""

from App.config import getConfiguration
from netsight.asynchronous import BaseAsyncView

import os


RAN_JOBS = os.path.join("var", "ran-jobs")  # in the instance home


class RanOnce(BaseAsyncView):
    """Appends its process id to ``var/ran-jobs`` of the instance that runs it, and answers "ran"."""

    title = "Ran once"  # (at the Zope root of an instance with Plone, a view without one fails to start)

    def __run__(self, process_id):
        path = os.path.join(getConfiguration().instancehome, RAN_JOBS)
        with open(path, "a") as ran:  # one short line, appended whole (O_APPEND), whichever thread writes
            ran.write(process_id + "\n")
        return "ran"
