"""The benchmark's jobs in Zope: a no-op that notes its first line's time (as the peers' job does), a hold."""

from bench_marks import mark  # bench/peers/bench_marks.py: the peers' job calls it too
from netsight.asynchronous import BaseAsyncView

import os
import time


RELEASE_EVERY = 0.02  # seconds between two looks of a held job for its release


class MarkedNoOp(BaseAsyncView):
    """Notes when it began, and does nothing else: the same job as the peers'."""

    def __run__(self, process_id):
        mark()
        return "done"


class Hold(BaseAsyncView):
    """Holds a thread of the pool until the file ``release`` exists: the jobs after it wait in the queue."""

    def __run__(self, process_id, release):
        while not os.path.exists(release):
            time.sleep(RELEASE_EVERY)  # the job's own pace, not a test's wait
        return "released"
