"""What a job keeps of its starting request: everything but what lets anyone log in.

A job's request is kept while it waits and runs (in the database, for a
job that another instance may run). It keeps no ``Authorization`` header
(Basic auth carries the password), no cookie but those named in the
``job-cookies`` setting (a session cookie such as ``__ac`` logs in), and no
form field that carries a credential (``CREDENTIALS``): Plone's login
fields ``__ac_name`` and ``__ac_password`` (its cookie plugin logs in with
them), the session ticket ``__ac`` (plone.session reads it from the form
as from the cookie), plone.protect's CSRF token ``_authenticator`` (and
``X-CSRF-TOKEN``) and Zope's session id ``_ZopeId``, wherever Zope finds a form field: the query, the URLs
the server, browser or a proxy repeat in any header, an urlencoded body, a multipart body's part
names; and no ``login`` and ``password`` of a JSON body (plone.restapi's
PAS plugin logs in with a JSON object that has both). A site may name its
session cookie otherwise (plone.session's and PAS's cookie plugins have a
``cookie_name``): the names its user folders read a credential from are
collected where the job starts (``site_login_names``) and go as those above,
from the form and the cookies; the job's environ keeps them
(``LOGIN_NAMES_KEY``, names only), so that the cookies of those names that
the job's response sets are not kept either (``login_names``, replay.py).
No header whose name looks secret (``looks_secret``: ``X-Api-Key``) is kept.
The ``Accept-Encoding`` header is not kept: the job's response is written
uncompressed, so that its user's CSRF tokens are found in it (tokens.py).

A field is judged by the name Zope files it under, read as Zope reads it
(``form_key``): percent-escapes and ``+`` decoded, then converters and
other suffixes (``:string``, ``:list``, ``:default``, ``:record``'s
attribute, ``.x``) taken off, so that ``%5Fauthenticator``,
``_authenticator:string`` and ``__ac_password:utf8:ustring`` go as the
plain names do. Cookies are read with Zope's own cookie grammar
(quoted values may hold ``;`` and ``,``).
Who the job runs as is kept instead, as an id (``identity.py``); its start
was checked for CSRF when it was made.
"""

from Acquisition import aq_base
from multipart import MultipartError
from multipart import MultipartSegment
from multipart import parse_options_header
from multipart import PushMultipartParser
from shutil import copyfileobj
from urllib.parse import unquote_to_bytes
from ZPublisher.HTTPRequest import FORM_PART_LIMIT
from ZPublisher.HTTPRequest import parse_cookie

from netsight.asynchronous import settings

import functools
import json
import re


TOKEN = "_authenticator"
# The form fields Plone and Zope read a credential from (request.form or
# request.get): PAS's cookie plugin and Products.CMFCore's cookie crumbler
# (login form), plone.session (its ticket, named as its cookie),
# plone.protect (the CSRF token); never kept, not even as a cookie listed
# in job-cookies.
LOGIN = frozenset({"__ac", "__ac_name", "__ac_password", TOKEN})
# Products.Sessions' browser id, which names a session: read from the form
# too (its default namespaces are cookies and form). As a cookie it is kept
# only if job-cookies lists it.
SESSION_ID = "_ZopeId"
CREDENTIALS = LOGIN | {SESSION_ID}
# The attributes of a user folder's plugins that name a cookie or form field
# they read a credential from: PAS's and plone.session's ``cookie_name``,
# Products.CMFCore's cookie crumbler's.
NAME_ATTRIBUTES = ("cookie_name", "auth_cookie", "name_cookie", "pw_cookie")
# In a job's environ: the names besides LOGIN its site reads a credential from, space-separated.
LOGIN_NAMES_KEY = "netsight.async.login_names"
DROPPED = frozenset(
    {
        "HTTP_ACCEPT_ENCODING",  # the job's response uncompressed: tokens.Hider reads it
        "HTTP_AUTHORIZATION",
        "HTTP_CGI_AUTHORIZATION",  # Zope reads it as Authorization
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_X_CSRF_TOKEN",
        "REMOTE_USER",
    }
)
URLS = frozenset({"REQUEST_URI", "RAW_URI", "HTTP_REFERER"})  # may carry a query with credentials
URL_SUFFIXES = ("_URI", "_URL")  # variables that repeat the URL (SCRIPT_URI, ...)
#: The words of a name that make it a secret, compared whole with each word
#: of the name ("spinner" has none, "user_pin" has "pin"); and the stems
#: that make it one wherever they are in it ("newpassword", "password1").
SECRET_WORDS = frozenset(
    {
        "password", "passwd", "pwd", "pw", "pass", "secret", "token", "apikey", "key", "pin", "otp", "totp",
        "mfa", "ssn", "iban", "card", "cvv", "cvc", "authorization", "jwt", "bearer",
    }
)
SECRET_STEMS = ("password", "passwd", "passphrase", "passcode", "apikey", "kennwort", "motdepasse", "credential")
WORD_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])|([A-Za-z])([0-9])|([0-9])([A-Za-z])")
NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]+")
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "application/x-url-encoded", ""})
FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})  # whose body Zope reads as a form
JSON_TYPE = "application/json"
JSON_LOGIN = ("login", "password")  # plone.restapi logs in with a JSON body that has both
CHUNK = 1 << 16
# Zope's limits for a multipart part's headers (ZPublisher's MultipartParser defaults).
MAX_PART_HEADERS = 8
MAX_PART_HEADER_SIZE = 4096 + 128
# ZPublisher.HTTPRequest's search_type: a field name's last suffix, taken off in turn.
SUFFIX = re.compile(r"(:[a-zA-Z][-a-zA-Z0-9_]+|\.[xy])$")
# ZPublisher.HTTPRequest's cookie grammar (QPARMRE, PARMRE, PARAMLESSRE).
QUOTED_COOKIE = re.compile('([\x00- ]*([^\x00- ;,="]+)="([^"]*)"([\x00- ]*[;,])?[\x00- ]*)')
COOKIE = re.compile('([\x00- ]*([^\x00- ;,="]+)=([^;]*)([\x00- ]*[;,])?[\x00- ]*)')
VALUELESS_COOKIE = re.compile('([\x00- ]*([^\x00- ;,="]+)[\x00- ]*[;,][\x00- ]*)')


def site_login_names(request):
    """The names besides ``LOGIN`` that the user folders above the published
    object read a credential from (a renamed session cookie, say).

    Each object the request traversed may have a user folder of its own (a
    Plone site's ``acl_users``, the Zope root's): the ``NAME_ATTRIBUTES`` of
    the objects in it (PAS plugins) are read, a few attributes each.
    """
    names = set()
    for parent in request.get("PARENTS") or ():
        folder = getattr(aq_base(parent), "acl_users", None)
        values = getattr(folder, "objectValues", None)
        if values is None:
            continue
        try:
            plugins = values()
        except Exception:  # not a folder after all
            continue
        for plugin in plugins:
            for attribute in NAME_ATTRIBUTES:
                name = getattr(aq_base(plugin), attribute, None)
                if isinstance(name, str) and name.strip():
                    names.update(name.split())
    return frozenset(names) - LOGIN


@functools.lru_cache(maxsize=4096)  # a pure function of a name: a start asks it of each header and field
def looks_secret(name):
    """Whether ``name`` (a form field's, a header's) looks like a secret's: a word of ``SECRET_WORDS``
    ("form.widgets.password", "apiKey", "X_AUTH_TOKEN", "pw2") or a stem of ``SECRET_STEMS`` in it ("newpassword")."""
    key = form_key(name)
    if any(stem in key.lower() for stem in SECRET_STEMS):
        return True
    words = NOT_ALPHANUMERIC.split(WORD_BOUNDARY.sub(lambda m: " ".join(g for g in m.groups() if g), key))
    return any(word.lower() in SECRET_WORDS for word in words)


def login_names(job_environ):
    """What a job's site logs in with (``LOGIN`` and its own names), as its environ keeps them."""
    return LOGIN | frozenset(job_environ.get(LOGIN_NAMES_KEY, "").split())


def environ(original, extra=frozenset()):
    """The strings of ``original`` a job needs, without credentials.

    ``extra``: the names besides ``CREDENTIALS`` its site reads a credential
    from (``site_login_names``), kept as ``LOGIN_NAMES_KEY``.
    """
    kept = {LOGIN_NAMES_KEY: " ".join(sorted(extra))} if extra else {}
    for key, value in original.items():
        if not isinstance(value, str) or key == LOGIN_NAMES_KEY:
            continue
        name = key
        while name.startswith("REDIRECT_"):  # Zope reads REDIRECT_X as X (Apache's rewrites)
            name = name[len("REDIRECT_"):]
        if name in DROPPED:
            continue
        if key.startswith("wsgi.") and key != "wsgi.url_scheme":
            continue
        if name == "HTTP_COOKIE":
            value = cookies(value, extra)
            if not value:
                continue
        elif name == "QUERY_STRING":
            value = without_credentials(value, extra)
        elif name.startswith("HTTP_") and looks_secret(name[len("HTTP_"):]):
            continue  # X-Api-Key, X-Auth-Token: what a site's own plugin may log in with
        elif "=" in value and (name in URLS or name.startswith("HTTP_") or name.endswith(URL_SUFFIXES)):
            # A URL repeated by a proxy (X-Original-URI, X-Envoy-Original-Path, X-Forwarded-Path),
            # or its query alone: what comes before its first "?" and what follows it lose their
            # credential fields (every other byte as it was); a value that still holds one anywhere
            # (a "?" within the query, URLs a server joined with ", ") is not kept at all.
            path, question, query = value.partition("?")
            value = without_credentials(path, extra) + question + without_credentials(query, extra)
            if _credential_anywhere(value, extra):
                continue
        kept[key] = value
    return kept


def form_key(name):
    """The key under which Zope files a form field named ``name`` (decoded).

    As ``HTTPRequest.processInputs`` does: each last suffix (``:converter``,
    ``:list``, ``:default``, ``:record``, an image button's ``.x`` after a
    colon) is taken off in turn; a record's attribute goes with ``:record``.
    """
    record = False
    delimiter = name.rfind(":")
    while delimiter >= 0 and (match := SUFFIX.search(name, delimiter)):
        record = record or name[match.start() + 1 :] in ("record", "records")
        name = name[: match.start()]
        delimiter = name.rfind(":")
    if record:
        name = ".".join(name.split(".")[:-1])
    return name


def is_credential(name, extra=frozenset()):
    """Whether a form field of the decoded ``name`` carries a credential (``extra``: the site's own names)."""
    key = form_key(name)
    return key in CREDENTIALS or key in extra


def _query_name(raw, charset=None):
    """A query field's name (bytes, percent-encoded) decoded as Zope decodes it."""
    raw = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):  # Zope refuses it (400): judged as latin-1
        return raw.decode("latin-1")


def cookies(header, extra=frozenset()):
    """The ``Cookie`` header with only the cookies of ``job-cookies`` (and never a credential's name,
    ``LOGIN`` or one of ``extra``).

    The header is read as Zope reads it; the cookies kept are written
    again, and the header is dropped whole if Zope would read the result
    differently.
    """
    allowed = set(settings.get("job-cookies").split()) - LOGIN - extra
    kept, text = {}, header  # name: the cookie as written again (None: a name without a value)
    while True:
        if match := QUOTED_COOKIE.match(text):
            name, written = match.group(2), f'{match.group(2)}="{match.group(3)}"'
        elif match := COOKIE.match(text):
            name, written = match.group(2), f"{match.group(2)}={match.group(3)}"
        elif match := VALUELESS_COOKIE.match(text):
            name, written = match.group(2), None
        else:
            break
        text = text[len(match.group(1)) :]
        if name in allowed and name not in kept:  # Zope takes a name's first cookie
            kept[name] = written
        allowed.discard(name)
    read = parse_cookie(header)
    wanted = {name: read[name] for name, written in kept.items() if written is not None}
    header = "; ".join(written for written in kept.values() if written is not None)
    return header if parse_cookie(header) == wanted else ""


ANY_SEPARATOR = re.compile(r"[?&,;\s]+")


def _credential_anywhere(value, extra):
    """Whether a ``name=value`` field named as a credential is anywhere in ``value``, split at any of ``? & , ;`` and blanks."""
    return any("=" in field and _is_credential_field(field, extra) for field in ANY_SEPARATOR.split(value))


def _is_credential_field(field, extra):
    """Whether a query's ``field`` (``name=value``, or a name alone) is named as a credential, read as Zope reads it."""
    return is_credential(_query_name(field.partition("=")[0].encode("latin-1", "replace")), extra)


def without_credentials(query, extra=frozenset()):
    """An urlencoded query without its credential fields, every other byte as it was."""
    if not query:
        return query
    fields = query.split("&")
    kept = [
        field
        for field in fields
        if not _is_credential_field(field, extra)
    ]
    return query if len(kept) == len(fields) else "&".join(kept)


def body(source, content_type, target, method="POST", extra=frozenset()):
    """Copy the request body ``source`` to ``target``, without credentials.

    A body that Zope reads as a form (``method`` POST, PUT or PATCH; an
    urlencoded type or none) loses its credential fields, a multipart form
    its credential parts, read a chunk at a time; a JSON object its
    ``login`` and ``password`` when it has both; any other body is copied
    as it is. ``extra``: the site's own credential names (``site_login_names``).
    """
    kind, options = parse_options_header(content_type or "")
    if kind == JSON_TYPE:
        _json_without_login(source, target)
        return
    if (method or "POST").upper() in FORM_METHODS:
        if kind in FORM_TYPES:
            _urlencoded_without_credentials(source, target, options.get("charset"), extra)
            return
        if kind == "multipart/form-data" and options.get("boundary"):
            _multipart_without_credentials(source, target, options["boundary"], extra)
            return
    copyfileobj(source, target, CHUNK)


def _json_without_login(source, target):
    """Copy a JSON body; an object with ``login`` and ``password`` is written again without them.

    It is read whole, as plone.restapi reads it to log in (``json_body``):
    anything else, or what is no JSON, is copied as it is.
    """
    data = source.read()
    try:
        document = json.loads(data)
    except ValueError:  # not JSON (a UnicodeDecodeError too)
        document = None
    if isinstance(document, dict) and all(key in document for key in JSON_LOGIN):
        for key in JSON_LOGIN:
            del document[key]
        data = json.dumps(document).encode("utf-8")
    target.write(data)


def _urlencoded_without_credentials(source, target, charset, extra):
    """Copy an urlencoded form a chunk at a time, leaving out its credential fields.

    A field is kept or left out once its name is whole (up to its ``=``),
    so that a long value is copied as it comes, never held whole.
    """
    copier = _FieldCopier(target, charset, extra)
    while chunk := source.read(CHUNK):
        parts = chunk.split(b"&")
        for number, part in enumerate(parts):
            if number:
                copier.end_field()
            copier.add(part)
    copier.end_field()


class _FieldCopier:
    """The fields of an urlencoded form, kept or left out as they come."""

    def __init__(self, target, charset, extra=frozenset()):
        self.target = target
        self.charset = charset
        self.extra = extra
        self.started = False  # a field was written: the next one needs "&"
        self.name = b""  # the name of a field not decided yet
        self.keep = None  # None: not decided

    def add(self, data):
        if self.keep is None:
            name, equals, rest = data.partition(b"=")
            self.name += name
            if equals:
                self._decide(equals + rest)
        elif self.keep:
            self.target.write(data)

    def end_field(self):
        if self.keep is None:  # a field without "="
            self._decide(b"")
        self.keep, self.name = None, b""

    def _decide(self, rest):
        self.keep = not is_credential(_query_name(self.name, self.charset), self.extra)
        if self.keep:
            self.target.write((b"&" if self.started else b"") + self.name + rest)
            self.started = True


def _multipart_without_credentials(source, target, boundary, extra):
    """Copy a multipart form, leaving out its parts named as credentials, and those without a name
    (Zope files a part named only by ``name*=``, RFC 2231's spelling, under "").

    The body is read a chunk at a time by the parser Zope reads it with
    (``multipart``), and each part kept is written again: its delimiter,
    its headers, its content as it comes. A body that parser refuses
    (Zope answers it 400) is not kept at all.
    """
    parser = PushMultipartParser(
        boundary,
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_PART_HEADER_SIZE,
        max_segment_count=FORM_PART_LIMIT,
        header_charset="latin-1",
    )
    delimiter = b"--" + parser.boundary
    written = target.tell()
    keep = False
    try:
        with parser:
            for event in parser.parse_blocking(lambda size: source.read(size), CHUNK):
                if isinstance(event, MultipartSegment):
                    name = _part_name(event.name)
                    keep = bool(name) and not is_credential(name, extra)  # no name (``name*=``): read by no form
                    if keep:
                        headers = "".join(f"{name}: {value}\r\n" for name, value in event.headerlist)
                        target.write(delimiter + b"\r\n" + headers.encode("latin-1") + b"\r\n")
                elif event is None:
                    if keep:
                        target.write(b"\r\n")
                elif keep:
                    target.write(event)
        target.write(delimiter + b"--\r\n")
    except MultipartError:
        target.seek(written)
        target.truncate()


def _part_name(name):
    """A multipart part's name, decoded as Zope decodes it."""
    try:
        return (name or "").encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name or ""
