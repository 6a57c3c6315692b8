"""This instance's id and the tickets of its queue: whose a queued or running record is.

Each Zope process is an instance of its own: its id is its host, its
process id and a random part, so that a restarted process (the same pid,
say) is another instance. A forked worker gets an id of its own. A
record names the instance that queued or runs it and its ticket, its
place in that instance's queue (``docs/architecture.rst``).
"""

import itertools
import os
import secrets
import socket


def _new_identity():
    global _instance_id, _tickets
    _instance_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _tickets = itertools.count(1)


_new_identity()
os.register_at_fork(after_in_child=_new_identity)  # a forked worker is an instance of its own


def instance_id():
    """This instance's id: host, process id and a random part."""
    return _instance_id


def next_ticket():
    """A job's place in this instance's queue: increasing, per instance."""
    return next(_tickets)
