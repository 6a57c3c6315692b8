"""Named queues: which queue a view's job waits in, which queues this instance serves (``queues``), how many of a queue's jobs it runs at once.

A view's ``queue`` (a class attribute or a method; a short name) routes its
jobs: None, the default, is the default queue, as in 1.x. An instance
serves the queues its ``queues`` setting names (zope.conf's
``<product-config netsight.async>``, ``NETSIGHT_ASYNC_QUEUES``),
space-separated; ``default`` names the default queue; a name followed by
``:`` and a number caps how many jobs of that queue run at once in this
instance (of its ``job-threads``, which stay the total)::

    queues default exports:2 reports:1

Empty (the default): every queue, without a cap of its own (1.x's way);
a setting none of whose words parses: no queue (an error in the log).
A job of a queue that an instance does not serve is never run in its own
pool: it waits in the database until an instance serving its queue claims
it (``registry.unclaimed`` takes ``served()``). Each instance that claims
jobs publishes what it serves on its heartbeat record
(``registry.InstanceRecord.queues``), which the pages read to say that no
live instance serves a job's queue (``registry.serving``).
"""

from netsight.asynchronous import settings

import functools
import logging
import re


logger = logging.getLogger("netsight.async")

#: The default queue's name in the ``queues`` setting and in lists; a record keeps None for it.
DEFAULT = "default"
#: A short name, whole (``is_name``; ``\Z``, not ``$``, which passes a name with a newline after it).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\Z")


def is_name(value):
    """Whether ``value`` is a queue's short name (letters, digits, ``_ . -``, at most 40), all of it."""
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def queue_of(view):
    """The queue of ``view``'s job, checked: None for the default queue, else its name.

    A name that is no short name (letters, digits, ``_ . -``, at most 40) is
    the integrator's error: ``ValueError`` (the start answers 500, logged).
    """
    value = getattr(view, "queue", None)
    if callable(value):
        value = value()
    if value is None:
        return None
    if not is_name(value):
        raise ValueError(f"{type(view).__name__}.queue must be a short name (letters, digits, _ . -) or None, not {value!r}")
    return of_name(value)


def name_of(queue):
    """A record's queue (None: the default) as the setting and the lists name it."""
    return DEFAULT if queue is None else queue


def of_name(name):
    """A queue as the setting and the lists name it (``DEFAULT`` for the default one) as a record keeps it: None for the default."""
    return None if name == DEFAULT else name


@functools.lru_cache(maxsize=8)
def parse(text):
    """``queues``'s text as ``(names, caps)``: the served names (a frozenset; None: every queue) and
    ``{name: threads}``; a word that does not parse is logged and left out. A text of words none of
    which parses serves no queue (an error in the log), never every queue: a dedicated worker whose
    setting is wrong must not run everything."""
    names, caps = set(), {}
    words = (text or "").replace(",", " ").split()
    for word in words:
        name, _colon, cap = word.partition(":")
        if not is_name(name) or (cap and not (cap.isascii() and cap.isdigit() and int(cap) > 0)):  # "²".isdigit(): no int
            logger.warning("netsight.async: queues: %r is no queue name (with ':' and a number of threads); left out", word)
            continue
        names.add(name)
        if cap:
            caps[name] = int(cap)
    if words and not names:
        logger.error("netsight.async: queues: no word of %r is a queue name: this instance serves no queue (runs no job)", text)
        return frozenset(), caps
    return (frozenset(names) if names else None), caps  # cached: the caps are not to be changed


def served():
    """The names of the queues this instance serves (``DEFAULT`` for the default one); None: every queue."""
    return parse(settings.instance_value("queues"))[0]


def serves(queue):
    """Whether this instance serves ``queue`` (a record's: None, the default)."""
    names = served()
    return names is None or name_of(queue) in names


def cap_of(queue):
    """How many jobs of ``queue`` may run at once in this instance (None: no cap of its own)."""
    return caps().get(name_of(queue))


def caps():
    """The caps of this instance's queues: a queue's name -> how many of its jobs run at once (``exports:2``)."""
    return parse(settings.instance_value("queues"))[1]
