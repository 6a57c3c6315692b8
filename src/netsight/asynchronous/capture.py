"""A job's response body, captured as it is produced: in memory while small, else in a file that becomes a ZODB blob.

The worker gives the job's response a ``BodyCapture`` as its ``stdout``:
what ``response.write`` streams goes there at once, and the body the job
returned (bytes, a file or a stream iterator) follows it, copied a chunk at
a time. A body of more than ``INLINE_LIMIT`` bytes is written to a file in
the storage's temporary directory (beside its blobs), so that handing it to
a blob moves it rather than copying it; nothing joins the body in memory.
A storage without blob support keeps every result inline, with a warning.
The job's response (``JobResponse``) is never compressed: what is captured
is the body as the job wrote it, in which its user's CSRF tokens are found
(tokens.py).
"""

from io import BytesIO
from io import IOBase
from shutil import copyfileobj
from ZODB.blob import Blob
from ZODB.interfaces import IBlobStorage
from ZPublisher.HTTPResponse import WSGIResponse

from netsight.asynchronous.transactions import in_own_transaction

import logging
import os
import shutil
import tempfile
import threading
import time


logger = logging.getLogger("netsight.async")

INLINE_LIMIT = 1 << 18  # bytes: a bigger body is kept in a blob
CHUNK = 1 << 16
PREFIX = "netsight-async-"
LEFTOVER_AGE = 86400  # seconds untouched after which a captured file is a dead worker's


class JobResponse(WSGIResponse):
    """A job's response: as Zope's, but never compressed.

    A job's ``enableHTTPCompression`` (Zope's, or a caching add-on's gzip)
    would have its body captured gzipped, where no token can be found:
    compression is neither enabled nor recorded. The result's request is
    Zope's own response and could be compressed by whatever serves it.
    """

    use_HTTP_content_compression = property(lambda self: 0, lambda self, value: None)

    def enableHTTPCompression(self, REQUEST=None, force=0, disable=0, query=0):
        return 0


class BodyCapture:
    """The ``stdout`` of a job's response, then the rest of its body."""

    hider = None  # a tokens.Hider that what is written passes through (tokens.hide), or None
    placeholder = None  # what stands for its user's tokens in the kept body (tokens.py), if any
    placeholder_user = None  # the id of the user whose tokens the placeholder stands for

    def __init__(self, directory):
        self.directory = directory  # the storage's temporary directory; None: no blobs
        self.length = 0
        self._memory = BytesIO()
        self._file = None
        self.path = None

    def write(self, data):
        """Add ``data`` (bytes) to the body: in memory, or in the file once it is big."""
        given = len(data)
        if self.hider is not None:  # its user's tokens written as a placeholder (tokens.py)
            data = self.hider.feed(data)
        if self._file is None and self.length + len(data) > INLINE_LIMIT:
            self._spill()
        (self._file or self._memory).write(data)
        self.length += len(data)
        return given

    def flush(self):
        if self._file is not None:
            self._file.flush()

    def add(self, body):
        """Add the body the job's response ended with, and close it if it is a file.

        ``body`` is bytes, a file (given to ``setBody``) or a stream
        iterator; a file or an iterator is read a chunk at a time.
        """
        try:
            if isinstance(body, (bytes, bytearray, memoryview)):
                if body:
                    self.write(body)
            elif isinstance(body, IOBase) or hasattr(body, "read"):
                body.seek(0)
                copyfileobj(body, self, CHUNK)
            else:
                for chunk in body:
                    self.write(chunk)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        self.flush()

    def keep(self, db):
        """The body as a record keeps it: ``(bytes, None)``, or ``(None, oid)`` of a blob stored now.

        The blob is stored in a transaction of its own that only adds it
        (it cannot conflict); the record that points to it is written
        after. Unreferenced, as when the process was cancelled meanwhile,
        it is garbage that the storage's pack removes.
        """
        if self.hider is not None:  # what it held back is the body's end
            hider, self.hider = self.hider, None
            self.write(hider.end())
            self.placeholder = hider.replacement if hider.replaced else None
            self.placeholder_user = hider.user_id if hider.replaced else None
        if self._file is None:
            return self._memory.getvalue(), None
        self._file.close()
        if self.directory is None:
            logger.warning(
                "The storage has no blob support: a result of %d bytes is kept in the process record "
                "and read whole when fetched; give the storage a blob directory.",
                self.length,
            )
            with open(self.path, "rb") as file:
                return file.read(), None
        oid = in_own_transaction(db, self._add_blob, alone=False)  # only adds: no conflict; a big blob must not hold WRITER
        self.discard()
        return None, oid

    def discard(self):
        """Remove the captured file, if any (the body was kept, or is not wanted)."""
        if self._file is not None:
            self._file.close()
        if self.path is not None and os.path.exists(self.path):
            os.remove(self.path)
        self.path = None

    def _spill(self):
        """From now on, write to a file: what was in memory goes first."""
        fd, self.path = tempfile.mkstemp(prefix=PREFIX, dir=self.directory)
        self._file = os.fdopen(fd, "wb")
        self._file.write(self._memory.getbuffer())
        self._memory = BytesIO()

    def _add_blob(self, root):
        """A new blob holding the captured file, added with ``root``'s connection.

        The blob takes a hard link of the file (a copy where links fail),
        so that the file is still there for another attempt if the
        commit fails.
        """
        attempt = f"{self.path}.blob"
        try:
            os.link(self.path, attempt)
        except OSError:
            shutil.copyfile(self.path, attempt)
        blob = Blob()
        root._p_jar.add(blob)  # first: its file then goes to the storage's directory, moved
        try:
            blob.consumeFile(attempt)
        finally:
            if os.path.exists(attempt):
                os.remove(attempt)
        return blob._p_oid


def directory(db):
    """Where a captured body's file goes: the storage's temporary directory, or None without blobs.

    One thread at a time asks: a DemoStorage (the test layers') gives its
    changes blob support at the first ask, unlocked, and two jobs asking at
    once would wrap them twice (an AssertionError in ZODB.blob).
    """
    storage = db.storage
    if not IBlobStorage.providedBy(storage):
        return None
    try:
        with _asking:
            return storage.temporaryDirectory()
    except (AttributeError, NotImplementedError):
        return None


_asking = threading.Lock()


def remove_leftovers(db, now=None):
    """Remove the captured files that a killed worker left behind (untouched
    for ``LEFTOVER_AGE``); how many. A live capture is written as the job
    goes, and handed to its blob when the job ends."""
    folder = directory(db)
    if folder is None:
        return 0
    now = time.time() if now is None else now
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.name.startswith(PREFIX) and entry.is_file() and now - entry.stat().st_mtime > LEFTOVER_AGE:
                    os.remove(entry.path)
                    removed += 1
            except OSError:  # gone meanwhile
                continue
    if removed:
        logger.info("netsight.async: removed %d captured files of killed workers", removed)
    return removed
