"""A user's CSRF tokens: kept out of a job's stored result, and put back when it is served to that user.

A page that a job renders for a logged-in user holds that user's
plone.protect token: the hidden ``_authenticator`` inputs and the
``data-token`` of protect.js that plone.protect's transform adds as the
job's response leaves, and any token a template rendered itself
(``@@authenticator``). A result waits in the database until it is fetched,
and in the storage's history until a pack: so the job's response body is
written with each of its user's tokens replaced by a placeholder of the
same length, random for each job (``Hider``, as the body is captured, a
chunk at a time). When the result is served to the user whose tokens were
hidden (its owner), ``result`` replaces the placeholder with a fresh token
of theirs (``Restorer``): the forms of the page then post as they would
have, and the body keeps its length (its ``Content-Length``). Served to
anyone else (a Manager or Site Administrator who may fetch it), the
placeholder stays: random, no one's token. A fetcher's own token would
leak otherwise: the owner can make the job render his own token where he
likes (``<img src="https://elsewhere/?t=...">``), and it would become the
fetcher's.

A user's tokens are those plone.protect makes for them without ``extra``:
one per key of their keyring (``internals.csrf_keys``). A token made with
an ``extra`` (``createToken(extra=...)``) is not known here and is kept.
"""

from AccessControl import getSecurityManager
from zope.interface import implementer
from ZPublisher.Iterators import IStreamIterator

from netsight.asynchronous import internals

import hashlib
import hmac
import secrets


try:
    from plone.protect.authenticator import createToken
except ImportError:  # plain Zope
    createToken = None

LENGTH = 40  # a token's length: a SHA-1 HMAC in hex


def placeholder():
    """A placeholder for a token: as long as one, and no one's."""
    return secrets.token_hex(LENGTH // 2).encode("ascii")


def user_tokens():
    """Every token plone.protect can give the current user (bytes); empty for Anonymous or without plone.protect."""
    user = getSecurityManager().getUser()
    if createToken is None or user is None or user.getId() is None:
        return frozenset()
    name = user.getUserName().encode("utf-8")
    return frozenset(
        hmac.new(key.encode("utf-8"), name, hashlib.sha1).hexdigest().encode("ascii")
        for key in internals.csrf_keys(user.getUserName())
    )


def current_token():
    """A fresh token of the current user (bytes); None for Anonymous or without plone.protect."""
    user = getSecurityManager().getUser()
    if createToken is None or user is None or user.getId() is None:
        return None
    try:
        return createToken().encode("ascii")
    except Exception:  # no key manager here (plain Zope, a site without one)
        return None


def hide(request):
    """Let the job's response capture (``request.response.stdout``) write its user's tokens as a placeholder."""
    capture = getattr(request.response, "stdout", None)
    if not hasattr(capture, "hider"):  # not a job's response
        return
    try:
        found = user_tokens()
    except Exception:  # no key manager here: no token either
        found = frozenset()
    capture.hider = Hider(found, placeholder()) if found else None
    if capture.hider is not None:
        capture.hider.user_id = getSecurityManager().getUser().getId()


class Hider:
    """Bytes as they come, each of ``needles`` replaced by ``replacement`` of the same length.

    The last bytes of what is fed are held back (one less than a needle)
    until more come or ``end``, so that a needle split across two writes
    is found too. ``replaced`` tells whether one was; ``user_id`` is the
    user whose tokens the needles are (None: no one's).
    """

    user_id = None

    def __init__(self, needles, replacement):
        self.needles = tuple(needles)
        self.replacement = replacement
        self.replaced = False
        self._kept_back = max(len(replacement) - 1, 0)
        self._held = b""

    def feed(self, data):
        data = self._held + bytes(data)
        for needle in self.needles:
            if needle in data:
                data = data.replace(needle, self.replacement)
                self.replaced = True
        cut = max(len(data) - self._kept_back, 0)
        self._held = data[cut:]
        return data[:cut]

    def end(self):
        held, self._held = self._held, b""
        return held


def restore(body, placeholder, length, user_id):
    """``body`` (bytes or an iterator of chunks) with a fresh token of the current user for ``placeholder``,
    if the current user is ``user_id``, whose tokens the placeholder stands for.

    Served to anyone else, or without a token to give (Anonymous, no
    plone.protect), the placeholder stays: random, no one's token; a form
    then posts no valid token, as for anyone without one.
    """
    if user_id is None or getSecurityManager().getUser().getId() != user_id:
        return body
    token = current_token()
    if token is None or len(token) != len(placeholder):
        return body
    if isinstance(body, bytes):
        return body.replace(placeholder, token)
    return Restorer(body, Hider((placeholder,), token), length)


@implementer(IStreamIterator)
class Restorer:
    """A result's file sent a chunk at a time, its placeholder replaced on the way."""

    def __init__(self, chunks, hider, length):
        self.chunks = chunks
        self.hider = hider
        self.length = length
        self._source = iter(chunks)
        self._ended = False

    def __iter__(self):
        return self

    def __next__(self):
        while not self._ended:
            try:
                chunk = self.hider.feed(next(self._source))
            except StopIteration:
                self._ended = True
                chunk = self.hider.end()
            if chunk:
                return chunk
        raise StopIteration

    def __len__(self):
        return self.length

    def close(self):
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
