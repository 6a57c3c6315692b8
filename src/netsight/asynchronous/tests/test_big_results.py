"""A big result is kept in a ZODB blob and sent back a chunk at a time; a small one stays inline."""

from io import BytesIO
from ZODB.blob import BlobStorage
from ZODB.DB import DB
from ZODB.DemoStorage import DemoStorage
from ZODB.MappingStorage import MappingStorage
from ZODB.POSException import ConflictError
from ZPublisher.Iterators import filestream_iterator

from netsight.asynchronous import capture
from netsight.asynchronous import registry
from netsight.asynchronous.capture import BodyCapture
from netsight.asynchronous.capture import INLINE_LIMIT
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.views import big_body
from netsight.asynchronous.tests.helpers.views import big_digest

import hashlib
import os
import shutil
import tempfile
import threading
import time
import unittest


BIG = 3 * INLINE_LIMIT + 12345  # bytes: a blob, and not a whole number of blocks
SMALL = INLINE_LIMIT // 2


def blob_db(test):
    """A database with blobs in a temporary directory, gone after ``test``."""
    directory = tempfile.mkdtemp(prefix="netsight-async-blobs-")
    test.addCleanup(shutil.rmtree, directory, ignore_errors=True)
    db = DB(BlobStorage(directory, MappingStorage()))
    test.addCleanup(db.close)
    return db


class TestBigResults(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def start_and_wait(self, size, how):
        url, process_id, answer = self.run_job("big-result", size=str(size), how=how)
        self.assertEqual(answer["state"], registry.DONE, answer)
        return url, process_id

    def test_a_big_result_arrives_byte_for_byte_however_the_job_gave_it(self):
        for how in ("write", "bytes", "file", "iterator"):
            with self.subTest(how=how):
                url, process_id = self.start_and_wait(BIG, how)
                result = self.fresh_record(process_id).result
                self.assertIsNotNone(result.blob)  # the body is in a blob, not in the record
                self.assertIsNone(result.response.body)
                self.browser.open(f"{url}/result?process_id={process_id}")
                self.assertEqual(self.browser.headers["Content-Length"], str(BIG))
                self.assertEqual(self.browser.headers["Content-Type"], "application/octet-stream")
                body = self.browser.contents  # bytes: no charset
                self.assertEqual(len(body), BIG)
                self.assertEqual(hashlib.sha256(body).hexdigest(), big_digest(BIG))

    def test_a_small_result_stays_in_the_record(self):
        url, process_id = self.start_and_wait(SMALL, "write")
        result = self.fresh_record(process_id).result
        self.assertIsNone(result.blob)
        self.assertEqual(len(result.response.body), SMALL)
        self.assertEqual(self.browser.result(url, process_id), b"".join(big_body(SMALL)))

    def test_head_answers_the_length_and_keeps_the_result(self):
        url, process_id = self.start_and_wait(BIG, "write")
        response = self.browser.head(f"{url}/result?process_id={process_id}")
        self.assertEqual(response.status_int, 200)
        self.assertEqual(response.headers["Content-Length"], str(BIG))
        self.assertEqual(response.body, b"")
        self.assertEqual(len(self.browser.result(url, process_id)), BIG)

    def test_the_blob_goes_with_the_record_once_fetched(self):
        url, process_id = self.start_and_wait(BIG, "file")
        self.browser.result(url, process_id)
        self.assertIsNone(self.fresh_record(process_id).result)  # the record stays without it, to say so
        self.browser.handleErrors = True
        self.browser.raiseHttpErrors = False
        self.browser.open(f"{url}/result?process_id={process_id}")
        self.assertEqual(self.browser.status, 410)

    def test_what_a_job_streams_in_small_writes_is_captured_whole(self):
        url, process_id = self.start_and_wait(INLINE_LIMIT + 1, "write")
        self.assertIsNotNone(self.fresh_record(process_id).result.blob)
        body = self.browser.result(url, process_id)
        self.assertEqual(body, b"".join(big_body(INLINE_LIMIT + 1)))


class TestBodyCapture(unittest.TestCase):
    """The capture itself, on ZODB storages with and without blobs."""

    def blob_db(self):
        return blob_db(self)

    def captured(self, db, *chunks, body=b""):
        whole = BodyCapture(capture.directory(db))
        self.addCleanup(whole.discard)
        for chunk in chunks:
            whole.write(chunk)
        whole.add(body)
        return whole

    def test_jobs_starting_together_on_a_new_demo_storage_all_get_a_directory(self):
        # A DemoStorage gives its changes blob support at the first ask for
        # its temporary directory, unlocked: the test layers' per-test
        # storage, where two jobs starting together once failed one of them.
        for _round in range(5):
            db = DB(DemoStorage())
            self.addCleanup(db.close)
            barrier, found = threading.Barrier(8), []

            def ask():
                barrier.wait()
                found.append(capture.directory(db))

            threads = [threading.Thread(target=ask) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.assertEqual(len(found), 8)
            self.assertEqual(len(set(found)), 1)
            self.assertTrue(os.path.isdir(found[0]))

    def test_small_bodies_stay_in_memory(self):
        whole = self.captured(self.blob_db(), b"first\n", body=b"second\n")
        self.assertIsNone(whole.path)
        self.assertEqual(whole.keep(None), (b"first\nsecond\n", None))

    def test_a_big_body_goes_to_a_file_beside_the_blobs_then_into_a_blob(self):
        db = self.blob_db()
        blocks = list(big_body(BIG))
        whole = self.captured(db, *blocks[:2], body=BytesIO(b"".join(blocks[2:])))
        self.assertTrue(whole.path.startswith(db.storage.temporaryDirectory()))
        path = whole.path
        body, oid = whole.keep(db)
        self.assertIsNone(body)
        self.assertFalse(os.path.exists(path))  # moved into the blob, nothing left behind
        connection = db.open()
        self.addCleanup(connection.close)
        with connection.get(oid).open("r") as file:
            self.assertEqual(file.read(), b"".join(blocks))

    def test_a_file_body_is_closed_once_read(self):
        path = tempfile.mkstemp()[1]
        self.addCleanup(os.remove, path)
        with open(path, "wb") as file:
            file.write(b"x" * BIG)
        body = filestream_iterator(path, "rb")
        whole = self.captured(self.blob_db(), body=body)
        self.assertTrue(body.closed)
        self.assertEqual(whole.length, BIG)

    def test_without_blob_support_a_big_body_is_kept_inline_with_a_warning(self):
        db = DB(MappingStorage())
        self.addCleanup(db.close)
        whole = self.captured(db, *big_body(BIG))
        with self.assertLogs("netsight.async", "WARNING") as logs:
            body, oid = whole.keep(db)
        self.assertIsNone(oid)
        self.assertEqual(body, b"".join(big_body(BIG)))
        self.assertIn("no blob support", logs.output[0])

    def test_a_discarded_capture_leaves_no_file(self):
        whole = self.captured(self.blob_db(), *big_body(BIG))
        path = whole.path
        whole.discard()
        self.assertFalse(os.path.exists(path))

    def test_a_failed_commit_leaves_the_file_for_the_next_attempt(self):
        db = self.blob_db()
        whole = self.captured(db, *big_body(BIG))
        original = whole._add_blob
        failures = []

        def fails_once(root):
            oid = original(root)
            if not failures:  # the blob goes to the storage, then the vote fails
                failures.append(oid)
                root._p_jar.transaction_manager.get().join(FailsToVote())
            return oid

        whole._add_blob = fails_once
        body, oid = whole.keep(db)
        self.assertEqual(len(failures), 1)
        connection = db.open()
        self.addCleanup(connection.close)
        with connection.get(oid).open("r") as file:
            self.assertEqual(file.read(), b"".join(big_body(BIG)))


class FailsToVote:
    """A data manager whose vote fails with a ConflictError: the transaction aborts late."""

    transaction_manager = None

    def sortKey(self):
        return "~last"

    def abort(self, txn):
        pass

    def tpc_begin(self, txn):
        pass

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        raise ConflictError("a conflict, at the vote")

    def tpc_finish(self, txn):
        pass

    def tpc_abort(self, txn):
        pass


class TestLeftovers(unittest.TestCase):
    """A worker killed while it captured leaves a file; the next start removes it once it is old."""

    def test_old_captured_files_go_fresh_ones_stay(self):
        db = blob_db(self)
        folder = capture.directory(db)
        old, fresh, other = (os.path.join(folder, name) for name in ("netsight-async-old", "netsight-async-new", "BUCxyz"))
        for path in (old, fresh, other):
            with open(path, "wb") as file:
                file.write(b"x")
        day_ago = time.time() - capture.LEFTOVER_AGE - 60
        os.utime(old, (day_ago, day_ago))
        os.utime(other, (day_ago, day_ago))
        self.assertEqual(capture.remove_leftovers(db), 1)
        self.assertEqual([os.path.exists(path) for path in (old, fresh, other)], [False, True, True])
