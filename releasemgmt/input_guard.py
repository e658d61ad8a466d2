"""What the project accepts as input, decided once for every door.

Hostile input must meet a clear 4xx, never a 500. The rules:

* **Body size.** A request body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``
  gets 413 before anything reads it; a multipart POST to a path that takes
  files (``FILE_UPLOAD_PATHS``: evidence files) may be larger by
  ``EVIDENCE_MAX_BYTES``, and the file's own size is then checked where it
  is read (a 400 naming the limit).
* **JSON.** At most ``JSON_MAX_DEPTH`` levels of nesting (Python's parser
  recurses, so a deeper document would end in RecursionError), no NaN,
  Infinity or number too large for a float (``1e999``), and its strings
  follow the text rule below: 400 ``parse_error``.
* **Text.** No control character (Unicode category Cc: NUL, ESC, DEL, the C1
  range) and no lone surrogate, in the path, the query string (names and
  values) and form fields; a text body (a form field, a JSON string) may hold
  tab, CR and LF. PostgreSQL refuses a NUL in a string, so without this a NUL
  in a filter was a 500.
* **Ids.** An id is a whole number from 1 to the bigint maximum:
  ``parse_id`` says which values are ids, for every filter, relation field
  and hand-read parameter.

``InputGuardMiddleware`` applies the size and text rules to every request
(the API answers in its error shape, the feeds in plain text, the pages with
a 400 page); ``JSONParser`` and ``loads`` apply the JSON rules wherever JSON
is read (the REST API, the token endpoint, the vendor inbound view).

Imported by the settings' middleware list, before the apps are loaded:
nothing here touches a model.
"""
from __future__ import annotations

import json
import logging
import math
import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template import loader
from django.utils.html import escape
from rest_framework import exceptions, parsers, status

log = logging.getLogger(__name__)

# Ids are bigint primary keys from a sequence: 1 up to PostgreSQL's bigint maximum.
ID_MIN, ID_MAX = 1, 2**63 - 1
# The schema of an id (drf-spectacular), so generated clients and Schemathesis know the range.
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": ID_MIN, "maximum": ID_MAX}
# Deep enough for any body the API documents (a template with its tasks is
# three levels deep), far below Python's recursion limit.
DEFAULT_JSON_MAX_DEPTH = 32


class InputRefused(ValueError):
    """Input that breaks one of the rules above; ``code`` names the rule."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


# --- text -----------------------------------------------------------------------------


# C0 controls, DEL, C1 controls (Unicode category Cc) and lone surrogates.
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_IN_BODY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def refused_character(text: str, *, body: bool = False) -> str | None:
    """The first character of ``text`` the text rule refuses, as ``U+XXXX``
    (``None`` if there is none). ``body``: tab, CR and LF are allowed."""
    found = (_REFUSED_IN_BODY if body else _REFUSED).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def check_text(text: str, where: str, *, body: bool = False) -> None:
    """Raise ``InputRefused`` (code ``invalid_character``) if ``text`` breaks the text rule."""
    if (char := refused_character(text, body=body)) is not None:
        raise InputRefused(f"{where} contains a control character ({char}), which is not allowed.",
                           code="invalid_character")


def check_form(fields) -> None:
    """The text rule over a form's fields (a QueryDict): names and values."""
    for name, values in fields.lists():
        check_text(name, "A form field's name")
        for value in values:
            if isinstance(value, str):
                check_text(value, f"The form field “{name[:40]}”", body=True)


# --- ids -------------------------------------------------------------------------------

_ID = re.compile(r"[0-9]{1,19}")


def parse_id(value) -> int | None:
    """``value`` as an id, or ``None`` if it is not one: an int (not a bool)
    or a string of ASCII digits, from 1 to the bigint maximum. Floats,
    ``1e999``, ``NaN``, ``1.0``, negative numbers and numbers too large for
    the column are not ids."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ID.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if ID_MIN <= number <= ID_MAX else None


NOT_AN_ID = "“{value}” is not a valid id: give a whole number."


def not_an_id_message(value) -> str:
    shown = str(value)
    return NOT_AN_ID.format(value=shown if len(shown) <= 40 else shown[:40] + "…")


_ADMIN_ID_LOOKUP = re.compile(r"(?:^|__)(?:id|pk)(?:__(exact|in))?$")


def check_admin_id_lookups(params) -> None:
    """The admin hands its list URLs' lookups (``release__id__exact=``,
    ``id__in=``) to the database as they come: a value that is not an id
    is refused here, with the reason, rather than answered with an empty
    list, a redirect, or (where the database cannot bind it) a 500."""
    for name, values in params.lists():
        match = _ADMIN_ID_LOOKUP.search(name)
        if match is None:
            continue
        for value in values:
            for item in value.split(",") if match.group(1) == "in" else [value]:
                if item and parse_id(item) is None:
                    raise InputRefused(f"The filter “{name[:40]}”: {not_an_id_message(item)}", code="invalid_id")


# --- JSON ------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.S)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")


def json_max_depth() -> int:
    return int(getattr(settings, "JSON_MAX_DEPTH", DEFAULT_JSON_MAX_DEPTH))


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON ``text`` nests arrays and objects deeper than
    ``limit``, found without parsing it: drop the strings, keep the
    brackets, and take away the innermost pairs ``limit`` times; what then
    still shrinks was deeper. (Brackets that do not pair up never shrink;
    the parser reports those.)"""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        if not brackets:
            return False
        # One scan takes away the pairs that were innermost before it: one level.
        brackets = _INNERMOST_PAIR.sub("", brackets)
    return bool(brackets) and len(_INNERMOST_PAIR.sub("", brackets)) < len(brackets)


def _refuse_constant(name):
    raise InputRefused(f"{name} is not a JSON number.")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise InputRefused(f"The number {text[:40]} is out of range.")
    return value


def _check_strings(data, path="body") -> None:
    stack = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            check_text(value, where, body=True)
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, f"A key of {where}")
                stack.append((item, f"{where}.{key[:40]}" if len(where) < 200 else where))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]" if len(where) < 200 else where) for i, item in enumerate(value))


def loads(text: str | bytes):
    """Parse a JSON document under the rules above; ``InputRefused`` (a
    ValueError) if it breaks one, ValueError if it is not JSON."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    limit = json_max_depth()
    if _nesting_exceeds(text, limit):
        raise InputRefused(f"The document nests deeper than {limit} levels.")
    data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    _check_strings(data)
    return data


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int | None = None):
        limit = body_limit() if limit is None else limit
        super().__init__(f"The request body is larger than {limit} bytes.")


def body_limit(request=None) -> int:
    """The largest body accepted: for ``request``, a file upload's room too."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if (request is not None and request.method == "POST" and request.content_type == "multipart/form-data"
            and request.path_info.startswith(tuple(getattr(settings, "FILE_UPLOAD_PATHS", ())))):
        limit += getattr(settings, "EVIDENCE_MAX_BYTES", 0)
    return limit


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser under the JSON rules: a body read no further than
    the size limit (413 beyond it), then ``loads`` (400 ``parse_error``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        limit = body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(limit)
        try:
            return loads(raw.decode(encoding))
        except ValueError as exc:  # InputRefused, JSONDecodeError, UnicodeDecodeError
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class FormParser(parsers.FormParser):
    """DRF's form parser under the text rule. (A POST's form was checked by
    the middleware already; a PUT's or PATCH's is only read here.)"""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_parsed_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser under the text rule (see ``FormParser``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_parsed_form(data.data)
        return data


def _check_parsed_form(fields) -> None:
    try:
        check_form(fields)
    except InputRefused as exc:
        raise exceptions.ParseError(str(exc), code=exc.code) from None


# --- the middleware ----------------------------------------------------------------------


def refusal(request, status_code: int, code: str, detail: str) -> HttpResponse:
    """The answer to refused input in the language of the door it came
    through: the API's error object, plain text for a calendar feed, a page
    for a person."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": detail, "code": code}, status=status_code)
    if request.path_info.endswith(".ics"):
        return HttpResponse(detail, status=status_code, content_type="text/plain; charset=utf-8")
    # Without context processors or the site layout, as the 500 page: this
    # runs before the session and the user are loaded.
    try:
        body = loader.get_template("400.html").render({"detail": detail, "status": status_code})
    except Exception:  # the refusal must not fail in turn (as the 500 page)
        log.exception("The 400 page could not be rendered")
        title = "Request too large" if status_code == 413 else "Bad request"
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{escape(detail)}</p>"
    return HttpResponse(body, status=status_code)


class InputGuardMiddleware:
    """Refuses, before any view runs: a body over the size limit (413), a
    control character in the path, the query string or a form field (400),
    and in the admin a list lookup on an id with a value that is not one
    (400). JSON bodies are checked where they are parsed (``JSONParser``,
    ``loads``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            self.check(request)
        except InputRefused as exc:
            return refusal(request, status.HTTP_400_BAD_REQUEST, exc.code, str(exc))
        except RequestTooLarge as exc:
            return refusal(request, exc.status_code, exc.default_code, str(exc.detail))
        return self.get_response(request)

    def check(self, request) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > body_limit(request):
            raise RequestTooLarge(body_limit(request))
        check_text(request.path_info, "The path")
        for name, values in request.GET.lists():
            check_text(name, "A query parameter's name")
            for value in values:
                check_text(value, f"The query parameter “{name[:40]}”")
        if request.path_info.startswith("/admin/"):
            check_admin_id_lookups(request.GET)
        # Django parses a form body for POST only; PUT and PATCH forms reach
        # the API alone, whose parsers apply the same rule.
        if request.method == "POST" and request.content_type in (
                "application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                fields = request.POST  # parsed once: the CSRF check and the view read the same
            except MultiPartParserError as exc:
                raise InputRefused(f"The form data cannot be read: {exc}", code="parse_error") from None
            check_form(fields)


def bad_request(request, exception=None):
    """``handler400``: what Django itself refuses (a SuspiciousOperation,
    e.g. too many form fields or a body over the limit read some other way)
    answers like the middleware above: the API's error object, a page."""
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exception, RequestDataTooBig):
        return refusal(request, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, RequestTooLarge.default_code,
                       str(RequestTooLarge().detail))
    return refusal(request, status.HTTP_400_BAD_REQUEST, "bad_request", "The request could not be understood.")
