"""A response captured in the worker, and put back on the ``result`` request.

What is kept is what the job's response carried: status, headers, cookies
and body. Headers that describe one connection or server rather than the
response (hop-by-hop, server, date, length) are not replayed; Zope sets its
own. A replayed response is for its owner only: unless the job said how to
cache it, no cache may keep it (private, no-store); what the job said is
made private (``public`` and ``s-maxage`` taken out) and varies by
``Cookie`` and ``Authorization``, unless the view declares its results
public (``public_result``).
"""

from copy import copy
from copy import deepcopy
from ZPublisher.Iterators import filestream_iterator

from netsight.asynchronous import internals
from netsight.asynchronous import tokens

import re


NOT_REPLAYED = frozenset(
    {
        "connection",
        "content-length",
        "date",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "x-powered-by",
    }
)
NOT_SHARED = "private, no-store"
SHARED_ONLY = frozenset({"public", "private", "s-maxage", "proxy-revalidate"})  # replaced by a bare "private"
OWNER_ONLY_VARY = ("Cookie", "Authorization")  # what tells one owner's request from another's
DIRECTIVES = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')  # the commas between directives, not in a quoted value


class CapturedResponse:
    """Status, headers, cookies and body of a finished job's response.

    ``body`` is bytes, or None when the body is in a blob (``length``
    bytes); ``with_file`` gives a copy whose body is that blob's file.
    """

    length = None  # older captures: the length of their body
    placeholder = None  # what stands for its user's CSRF tokens in the body (tokens.py); None: nothing

    def __init__(self, status, reason, headers, accumulated_headers, cookies, body, length=None):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.accumulated_headers = accumulated_headers
        self.cookies = cookies
        self.body = body
        self.length = len(body) if length is None else length

    @classmethod
    def capture(cls, response, body, length):
        """Take what a published ``WSGIResponse`` carries, with its captured body.

        The body's capture (the response's ``stdout``) tells the placeholder
        that stands for its user's tokens, if it wrote any.
        """
        captured = cls(
            status=response.status,
            reason=response.errmsg,
            headers={
                name: value
                for name, value in response.headers.items()
                if name.lower() not in NOT_REPLAYED
            },
            accumulated_headers=[
                (name, value)
                for name, value in response.accumulated_headers
                if name.lower() not in NOT_REPLAYED
            ],
            cookies=deepcopy(response.cookies),
            body=body,
            length=length,
        )
        captured.placeholder = getattr(response.stdout, "placeholder", None)
        return captured

    def with_file(self, blob):
        """A copy whose body is ``blob``'s committed file, open, streamed in chunks.

        It is opened now, in the transaction that reads the blob: the open
        file stays readable after the record (and so the blob) is removed.
        """
        taken = copy(self)
        taken.body = filestream_iterator(blob.committed(), "rb")
        return taken

    def replay(self, response, public=False):
        """Put this response on ``response``; returns the body.

        The body is set as it was and locked, so that neither Zope (base
        tag, text/plain default) nor a later ``setBody`` changes it; a
        file is sent a chunk at a time. Unless ``public`` (the view's
        ``public_result``), no shared cache may keep it (``owner_only``).
        A body whose user's CSRF tokens were kept out gets a fresh token of
        the user it is served to (``tokens.restore``), and is never public.
        """
        self.replay_headers(response, public)
        body = self.body
        if self.placeholder is not None:
            body = tokens.restore(body, self.placeholder, self.length)
        internals.set_locked_body(response, body)
        return body

    def replay_headers(self, response, public=False):
        """Status, headers and cookies, for a HEAD: the body stays empty."""
        public = public and self.placeholder is None  # a body with a user's token is that user's
        response.setStatus(self.status, self.reason)
        response.headers.update(self.headers)
        cache_control = self.headers.get("cache-control")
        if public:
            response.headers["cache-control"] = cache_control or NOT_SHARED
        else:
            owner_only(response, cache_control)
        response.accumulated_headers.extend(self.accumulated_headers)
        response.cookies.update(deepcopy(self.cookies))
        length = len(self.body) if self.length is None else self.length
        response.setHeader("Content-Length", str(length))
        internals.set_locked_body(response, b"")
        return b""


def owner_only(response, cache_control):
    """Make ``response`` one that no shared cache keeps: ``cache_control`` (the
    job's, or None) with a bare ``private`` instead of ``public``,
    ``s-maxage``, ``proxy-revalidate`` or a ``private`` of some fields
    (``private, no-store`` if the job set none), and ``Vary: Cookie,
    Authorization`` besides the job's own ``Vary``."""
    kept = [
        directive.strip()
        for directive in DIRECTIVES.split(cache_control or "")
        if directive.strip() and directive.split("=", 1)[0].strip().lower() not in SHARED_ONLY
    ]
    response.headers["cache-control"] = ", ".join(["private", *kept]) if cache_control else NOT_SHARED
    vary = [name.strip() for name in response.headers.get("vary", "").split(",") if name.strip()]
    if "*" not in vary:
        known = {name.lower() for name in vary}
        vary += [name for name in OWNER_ONLY_VARY if name.lower() not in known]
        response.headers["vary"] = ", ".join(vary)
