"""The private Zope APIs of ``internals.py`` still work as the add-on needs.

Should a Zope release change one of them, these tests name it.
"""

from inspect import signature
from io import BytesIO
from ZPublisher import WSGIPublisher
from ZPublisher.HTTPRequest import WSGIRequest
from ZPublisher.HTTPResponse import WSGIResponse

from netsight.asynchronous import internals

import contextlib
import importlib.metadata
import os
import tempfile
import textwrap
import transaction
import unittest
import ZODB


def request(**environ):
    response = WSGIResponse(stdout=BytesIO(), stderr=BytesIO())
    environ = {"SERVER_NAME": "localhost", "SERVER_PORT": "80", "REQUEST_METHOD": "GET", **environ}
    return WSGIRequest(BytesIO(), environ, response)


class TestInternals(unittest.TestCase):
    def test_zope_is_in_the_declared_range(self):
        major = int(importlib.metadata.version("Zope").split(".")[0])
        self.assertTrue(5 <= major < 7, "setup.py declares Zope >= 5.8, < 7")

    def test_a_locked_body_stays_as_it_was_set(self):
        response = request().response
        internals.set_locked_body(response, b"<html><head></head>as the job made it</html>")
        response.setBase("http://localhost/base/")
        response.setBody("something else")
        self.assertEqual(response.body, b"<html><head></head>as the job made it</html>")
        self.assertNotIn("content-type", response.headers)  # no text/plain default either

    def test_the_publisher_halves_keep_their_signatures(self):
        self.assertEqual(list(signature(WSGIPublisher.publish).parameters), ["request", "module_info"])
        self.assertEqual(list(signature(WSGIPublisher.transaction_pubevents).parameters)[:2], ["request", "response"])
        req = request()
        self.assertIsInstance(
            WSGIPublisher.transaction_pubevents(req, req.response), contextlib.AbstractContextManager
        )

    def test_an_object_held_lives_until_the_request_closes(self):
        closed = []

        class Holder:
            def __del__(self):
                closed.append(True)

        req = request()
        internals.hold(req, Holder())
        self.assertEqual(closed, [])
        req.close()
        self.assertEqual(closed, [True])

    def test_runwsgi_calls_what_is_first_in_its_databases_before_it_closes_them(self):
        """Zope's own ``runwsgi`` command (``Zope2.Startup.serve``), with a
        server that returns at once as waitress does after a KeyboardInterrupt."""
        import Zope2
        from App.config import getConfiguration
        from Zope2.Startup.serve import main

        self.addCleanup(setattr, Zope2, "opened", Zope2.opened)
        db = ZODB.DB(None)
        Zope2.opened = [db]
        seen = []

        def write():
            manager = transaction.TransactionManager()
            connection = db.open(transaction_manager=manager)
            connection.root()["ended"] = True
            manager.commit()
            connection.close()
            seen.append("written")

        internals.before_databases_close(write)
        with tempfile.TemporaryDirectory() as tmp:
            configuration = getConfiguration()  # zope.conf's pidfile, which runwsgi writes
            if "pid_filename" in vars(configuration):
                self.addCleanup(setattr, configuration, "pid_filename", configuration.pid_filename)
            else:
                self.addCleanup(delattr, configuration, "pid_filename")
            configuration.pid_filename = os.path.join(tmp, "Z4.pid")
            ini = os.path.join(tmp, "serve.ini")
            with open(ini, "w") as f:
                f.write(textwrap.dedent(f"""\
                    [app:main]
                    use = call:{__name__}:make_app
                    [server:main]
                    use = call:{__name__}:make_server
                    """))
            main(["runwsgi", ini], quiet=True)
        self.assertEqual(seen, ["written"])  # before the database closed
        with self.assertRaises(Exception):
            db.open()  # closed after it, by runwsgi

    def test_a_users_csrf_tokens_are_made_from_the_keys_of_its_keyring(self):
        from AccessControl.SecurityManagement import newSecurityManager
        from AccessControl.SecurityManagement import noSecurityManager
        from AccessControl.users import SimpleUser
        from plone.keyring.keymanager import KeyManager
        from plone.protect.authenticator import createToken

        import hashlib
        import hmac

        manager = KeyManager()
        newSecurityManager(None, SimpleUser("someone", "", ["Member"], []))
        self.addCleanup(noSecurityManager)
        keys = internals.csrf_keys("someone", manager)
        self.assertEqual(len(keys), len(manager["_forms"]))
        made = {hmac.new(key.encode(), b"someone", hashlib.sha1).hexdigest() for key in keys}
        for _ in range(20):  # a key drawn at random each time
            self.assertIn(createToken(manager=manager), made)


def make_app(global_conf, **local_conf):
    """The WSGI application of the runwsgi test: never called."""
    return lambda environ, start_response: []


def make_server(global_conf, **local_conf):
    """The server of the runwsgi test: returns at once, as waitress's does
    when a signal's KeyboardInterrupt ends its loop."""
    return lambda app: None
