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
from urllib.parse import parse_qsl
from urllib.parse import urlencode

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
SMALL_FORM = 1 << 20  # bytes: an urlencoded body is rewritten in memory up to this size
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
    """An urlencoded query or form without the CSRF token."""
    if TOKEN not in query:
        return query
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != TOKEN])


def body(source, content_type, target):
    """Copy the request body ``source`` to ``target``, without the CSRF token.

    An urlencoded form (up to ``SMALL_FORM``) loses its ``_authenticator``
    field, a multipart form its ``_authenticator`` part, read a line at a
    time; any other body is copied as it is.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        data = source.read(SMALL_FORM + 1)
        if len(data) <= SMALL_FORM:
            target.write(without_token(data.decode("latin-1")).encode("latin-1"))
            return
        target.write(data)  # too big to be a form of fields: copied as it is
    elif kind == "multipart/form-data" and (match := BOUNDARY.search(content_type)):
        _multipart_without_token(source, target, match.group(1).encode("latin-1"))
        return
    copyfileobj(source, target, CHUNK)


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
            if line in (b"\r\n", b"\n"):  # the end of the part's headers
                skipping = _field_name(headers) == TOKEN.encode()
                if not skipping:
                    target.writelines(headers)
                headers = None
            continue
        if not skipping:
            target.write(line)


def _field_name(headers):
    for line in headers:
        if line.lower().startswith(b"content-disposition:") and (match := FIELD_NAME.search(line)):
            return match.group(1)
    return None
