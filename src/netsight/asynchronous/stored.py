"""A job's request kept in the database, so that another instance can run it.

It is what the worker needs to publish the job again anywhere: the environ
(strings only, without credentials: ``scrub.py``), the body (inline when
small, else a ZODB blob), who the job runs as (``identity.JobUser``) and
the publisher's settings of the starting instance. A record holds it while
the job is queued or running, and drops it when the job ends.
"""

from persistent import Persistent
from shutil import copyfileobj
from tempfile import SpooledTemporaryFile
from ZODB.blob import Blob
from ZODB.interfaces import IBlobStorage

from netsight.asynchronous.capture import CHUNK
from netsight.asynchronous.capture import INLINE_LIMIT


# Bytes of a job's request body an instance keeps in memory while the job
# waits and runs; a bigger body goes to a temporary file, streamed. Small:
# queued bodies add up (60 queued 1 MB bodies were 64 MB of memory).
SPOOL_SIZE = 1 << 16


class StoredRequest(Persistent):
    """The copied request of a job; ``body`` inline, or ``blob``."""

    blob = None

    def __init__(self, environ, user, origin):
        self.environ = dict(environ)
        self.user = user
        self.origin = origin  # (root oid, realm, debug mode) of the starting request
        self.body = b""

    def keep_body(self, file, connection):
        """Keep ``file`` (read from its start) as the body: inline while small, else in a blob."""
        file.seek(0)
        head = file.read(INLINE_LIMIT + 1)
        if len(head) <= INLINE_LIMIT or not IBlobStorage.providedBy(connection.db().storage):
            self.body = head + file.read()  # small, or no blob support: inline
            return
        self.body = None
        self.blob = Blob()
        connection.add(self.blob)  # first: its file goes to the storage's directory
        with self.blob.open("w") as target:
            target.write(head)
            copyfileobj(file, target, CHUNK)

    def open_body(self):
        """A file of the body, the instance's own: a copy, spooled to disk when big."""
        copy = SpooledTemporaryFile(max_size=SPOOL_SIZE)
        if self.blob is None:
            copy.write(self.body)
        else:
            with self.blob.open("r") as source:
                copyfileobj(source, copy, CHUNK)
        copy.seek(0)
        return copy
