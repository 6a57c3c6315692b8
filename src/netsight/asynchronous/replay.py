"""A response captured in the worker, and put back on the ``result`` request.

What is kept is what the job's response carried: status, headers, cookies
and body. Headers that describe one connection or server rather than the
response (hop-by-hop, server, date, length) are not replayed; Zope sets its
own. No cookie that logs in is kept (a job that changed a password sets a
fresh session ticket: ``scrub.login_names``), whether set with
``setCookie`` or as a ``Set-Cookie`` header. A replayed response is for its
owner only: unless the job said how to cache it, no cache may keep it
(private, no-store); what the job said is made private (``public`` and
``s-maxage`` taken out) and varies by ``Cookie`` and ``Authorization``, and
the headers that only shared caches read (``Surrogate-Control``,
``CDN-Cache-Control``, nginx's ``X-Accel-Expires``, ...) are dropped, in
the headers the job set and in those it added (``addHeader``), unless the
view declares its results public (``public_result``).
"""

from copy import copy
from copy import deepcopy
from ZPublisher.Iterators import filestream_iterator

from netsight.asynchronous import internals
from netsight.asynchronous import scrub
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
# Headers that only shared caches and CDNs read, each over Cache-Control's private:
# an owner-only result goes without them.
SHARED_CACHES_ONLY = frozenset(
    {
        "surrogate-control",  # Varnish (ESI), Fastly, Akamai
        "cdn-cache-control",  # RFC 9213
        "cloudflare-cdn-cache-control",
        "edge-control",  # Akamai
        "x-accel-expires",  # nginx's proxy cache
        "x-cache-control",
    }
)
DIRECTIVES = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')  # the commas between directives, not in a quoted value


class CapturedResponse:
    """Status, headers, cookies and body of a finished job's response.

    ``body`` is bytes, or None when the body is in a blob (``length``
    bytes); ``with_file`` gives a copy whose body is that blob's file.
    """

    length = None  # older captures: the length of their body
    placeholder = None  # what stands for its user's CSRF tokens in the body (tokens.py); None: nothing
    placeholder_user = None  # the id of that user, the only one given a token for it (None: no one)

    def __init__(self, status, reason, headers, accumulated_headers, cookies, body, length=None):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.accumulated_headers = accumulated_headers
        self.cookies = cookies
        self.body = body
        self.length = len(body) if length is None else length

    @classmethod
    def capture(cls, response, body, length, login_names=scrub.LOGIN):
        """Take what a published ``WSGIResponse`` carries, with its captured body.

        The body's capture (the response's ``stdout``) tells the placeholder
        that stands for its user's tokens, if it wrote any, and whose they
        are. No cookie named in ``login_names`` (what logs in on the job's
        site: ``scrub.login_names``) is kept.
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
                if name.lower() not in NOT_REPLAYED and not _sets_cookie(name, value, login_names)
            ],
            cookies={name: deepcopy(cookie) for name, cookie in response.cookies.items() if name not in login_names},
            body=body,
            length=length,
        )
        captured.placeholder = getattr(response.stdout, "placeholder", None)
        captured.placeholder_user = getattr(response.stdout, "placeholder_user", None)
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
        that user when served to them (``tokens.restore``; to anyone else, no
        token of theirs), and is never public.
        """
        self.replay_headers(response, public)
        body = self.body
        if self.placeholder is not None:
            body = tokens.restore(body, self.placeholder, self.length, self.placeholder_user)
        internals.set_locked_body(response, body)
        return body

    def replay_headers(self, response, public=False):
        """Status, headers and cookies, for a HEAD: the body stays empty."""
        public = public and self.placeholder is None  # a body with a user's token is that user's
        response.setStatus(self.status, self.reason)
        headers, added = joined_headers(self.headers, self.accumulated_headers, () if public else SHARED_CACHES_ONLY)
        response.headers.update(headers)
        if public:
            response.headers["cache-control"] = headers.get("cache-control") or NOT_SHARED
        else:
            owner_only(response, headers.get("cache-control"))
        response.accumulated_headers.extend(added)
        response.cookies.update(deepcopy(self.cookies))
        length = len(self.body) if self.length is None else self.length
        response.setHeader("Content-Length", str(length))
        internals.set_locked_body(response, b"")
        return b""


def joined_headers(headers, accumulated_headers, dropped):
    """``(headers, accumulated_headers)`` of a job as its result replays them.

    Every ``Cache-Control`` and ``Vary`` the job set or added (each name in
    any case) is joined into one lowercase header of each, so that
    ``owner_only`` sees all of them; headers named in ``dropped``
    (lowercase: ``SHARED_CACHES_ONLY`` for an owner-only result) are left out.
    """
    kept, joined = {}, {"cache-control": [], "vary": []}
    for name, value in [*headers.items(), *accumulated_headers]:
        lower = name.lower()
        if lower in joined:
            joined[lower].append(value)
        elif lower not in dropped:
            kept.setdefault(name, []).append(value)
    own = {name: values[0] for name, values in kept.items() if name in headers}
    added = [(name, value) for name, values in kept.items() for value in values[name in headers :]]
    own.update({name: ", ".join(values) for name, values in joined.items() if values})
    return own, added


def _sets_cookie(name, value, login_names):
    """Whether a header (``name``, ``value``) sets a cookie named in ``login_names``."""
    return name.lower() == "set-cookie" and value.split("=", 1)[0].strip() in login_names


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
