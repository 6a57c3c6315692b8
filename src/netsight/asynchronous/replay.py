"""A response captured in the worker, and put back on the ``result`` request.

What is kept is what the job's response carried: status, headers, cookies
and body. Headers that describe one connection or server rather than the
response (hop-by-hop, server, date, length) are not replayed; Zope sets its
own. A replayed response is for its owner only: unless the job said how to
cache it, shared caches are told not to keep it (private, no-store).
"""

from copy import deepcopy

from netsight.asynchronous import internals


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


class CapturedResponse:
    """Status, headers, cookies and body of a finished job's response."""

    def __init__(self, status, reason, headers, accumulated_headers, cookies, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.accumulated_headers = accumulated_headers
        self.cookies = cookies
        self.body = body

    @classmethod
    def capture(cls, response):
        """Take what a published ``WSGIResponse`` carries."""
        return cls(
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
            body=_body(response),
        )

    def replay(self, response):
        """Put this response on ``response``; returns the body.

        The body is set as it was and locked, so that neither Zope (base
        tag, text/plain default) nor a later ``setBody`` changes it.
        """
        self.replay_headers(response)
        internals.set_locked_body(response, self.body)
        return self.body

    def replay_headers(self, response):
        """Status, headers and cookies, for a HEAD: the body stays empty."""
        response.setStatus(self.status, self.reason)
        response.headers.update(self.headers)
        response.headers.setdefault("cache-control", NOT_SHARED)
        response.accumulated_headers.extend(self.accumulated_headers)
        response.cookies.update(deepcopy(self.cookies))
        response.setHeader("Content-Length", str(len(self.body)))
        internals.set_locked_body(response, b"")
        return b""


def _body(response):
    """The whole body: what was streamed with ``write``, then the rest.

    A file or a stream iterator that the job gave is closed once read.
    """
    body = response.body
    try:
        if hasattr(body, "read"):  # a file given to setBody
            body.seek(0)
            body = body.read()
        elif not isinstance(body, bytes):  # a stream iterator
            body = b"".join(body)
    finally:
        close = getattr(response.body, "close", None)
        if close is not None:
            close()
    return (internals.streamed(response) or b"") + body
