"""What a job keeps of its starting request: everything but what lets anyone log in.

A job's request is kept while it waits and runs (in the database, for a
job that another instance may run). It keeps no ``Authorization`` header
(Basic auth carries the password), no cookie but those named in the
``job-cookies`` setting (a session cookie such as ``__ac`` logs in), and no
CSRF token (``_authenticator`` in the query, the form, the URLs the server
or browser repeat, ``X-CSRF-TOKEN``).
Who the job runs as is kept instead, as an id (``identity.py``); its start
was checked for CSRF when it was made.
"""

from shutil import copyfileobj

from netsight.asynchronous import settings

import re


TOKEN = "_authenticator"
DROPPED = frozenset(
    {
        "HTTP_AUTHORIZATION",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_X_CSRF_TOKEN",
        "REMOTE_USER",
    }
)
URLS = frozenset({"REQUEST_URI", "RAW_URI", "HTTP_REFERER"})  # may carry a query with the token
CHUNK = 1 << 16
MAX_HEADERS = 1 << 16  # bytes of a part's headers read before deciding
BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
FIELD_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)


def environ(original):
    """The strings of ``original`` a job needs, without credentials."""
    kept = {}
    for key, value in original.items():
        if not isinstance(value, str) or key in DROPPED:
            continue
        if key.startswith("wsgi.") and key != "wsgi.url_scheme":
            continue
        if key == "HTTP_COOKIE":
            value = cookies(value)
            if not value:
                continue
        elif key == "QUERY_STRING":
            value = without_token(value)
        elif key in URLS:
            path, question, query = value.partition("?")
            value = path + question + without_token(query)
        kept[key] = value
    return kept


def cookies(header):
    """The ``Cookie`` header with only the cookies of ``job-cookies``."""
    allowed = set(settings.get("job-cookies").split())
    pairs = (pair.strip() for pair in header.split(";"))
    return "; ".join(pair for pair in pairs if pair.partition("=")[0].strip() in allowed)


def without_token(query):
    """An urlencoded query without its ``_authenticator=`` fields, every other byte as it was."""
    if TOKEN not in query:
        return query
    return "&".join(field for field in query.split("&") if not field.startswith(f"{TOKEN}="))


def body(source, content_type, target):
    """Copy the request body ``source`` to ``target``, without the CSRF token.

    An urlencoded form loses its ``_authenticator`` fields, a multipart
    form its ``_authenticator`` parts, both read a chunk or a line at a
    time; any other body is copied as it is.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        _urlencoded_without_token(source, target)
        return
    if kind == "multipart/form-data" and (match := BOUNDARY.search(content_type)):
        _multipart_without_token(source, target, match.group(1).encode("latin-1"))
        return
    copyfileobj(source, target, CHUNK)


def _urlencoded_without_token(source, target):
    """Copy an urlencoded form a chunk at a time, leaving out its ``_authenticator=`` fields.

    A field is kept or left out as soon as its first bytes tell which, so
    that a long value is copied as it comes, never held whole.
    """
    token = TOKEN.encode("ascii") + b"="
    copier = _FieldCopier(target, token)
    while chunk := source.read(CHUNK):
        parts = chunk.split(b"&")
        for number, part in enumerate(parts):
            if number:
                copier.end_field()
            copier.add(part)
    copier.end_field()


class _FieldCopier:
    """The fields of an urlencoded form, kept or left out as they come."""

    def __init__(self, target, token):
        self.target = target
        self.token = token
        self.started = False  # a field was written: the next one needs "&"
        self.pending = b""  # the start of a field not decided yet
        self.keep = None  # None: not decided

    def add(self, data):
        if self.keep is None:
            self.pending += data
            if len(self.pending) >= len(self.token):
                self._decide()
        elif self.keep:
            self.target.write(data)

    def end_field(self):
        if self.keep is None:  # a field shorter than the token's name
            self._decide()
        self.keep, self.pending = None, b""

    def _decide(self):
        self.keep = not self.pending.startswith(self.token)
        if self.keep:
            self.target.write((b"&" if self.started else b"") + self.pending)
            self.started = True
        self.pending = b""


def _multipart_without_token(source, target, boundary):
    """Copy a multipart body, leaving out its parts named ``_authenticator``.

    A part runs from its delimiter line to the next one; the line break
    before a delimiter belongs to the delimiter, so leaving a part out
    keeps the body well formed.
    """
    delimiter = b"--" + boundary
    headers = None  # the lines of a part's headers while they are read
    skipping = False
    at_line_start = True
    while line := source.readline(CHUNK):
        starts_line, at_line_start = at_line_start, line.endswith(b"\n")
        if starts_line and line.startswith(delimiter):
            skipping = False
            headers = [] if not line.rstrip().endswith(b"--") else None
            if headers is None:
                target.write(line)
            else:
                headers.append(line)
            continue
        if headers is not None:
            headers.append(line)
            if starts_line and line in (b"\r\n", b"\n"):  # the end of the part's headers
                skipping = _field_name(headers) == TOKEN.encode()
                if not skipping:
                    target.writelines(headers)
                headers = None
            elif sum(map(len, headers)) > MAX_HEADERS:  # not headers of a token part: kept
                target.writelines(headers)
                headers = None
            continue
        if not skipping:
            target.write(line)
    if headers:  # the body ended inside a part's headers: kept as they were
        target.writelines(headers)


def _field_name(headers):
    for line in headers:
        if line.lower().startswith(b"content-disposition:") and (match := FIELD_NAME.search(line)):
            return match.group(1)
    return None
