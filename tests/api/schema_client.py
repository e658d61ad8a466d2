"""A client of the REST API that knows nothing but the OpenAPI document the
server publishes, as an integrator's generated client would.

It loads ``GET /api/schema/?format=json``, finds operations by
``operationId`` or by ``"METHOD /path/template/"``, fills path parameters,
and checks both sides of every exchange against the document:

- before sending: every path parameter of the template is given and valid,
  every query parameter and header is one the operation declares (an
  integration cannot know about an undeclared one), required ones are
  there, and the body is valid for the operation's request schema in the
  media type sent (read-only properties may not be written);
- after: the status is one the operation documents, the content type one
  it documents for that status, and a JSON body valid for that response's
  schema (write-only properties may not be read).

Bodies are validated with ``openapi-schema-validator``: it is the OpenAPI
3.0 dialect of ``jsonschema`` (``nullable``, ``readOnly``/``writeOnly``
taking effect per direction, OpenAPI formats), from the maintainers of
openapi-core, which uses it underneath. drf-spectacular publishes OpenAPI
3.0.3, which plain JSON Schema validators misread (``nullable``, required
read-only properties), and the routing openapi-core would add is the small
part written here. Schemathesis validates responses to the requests it
generates; this client sends requests the tests write, so it needs the
request side too.

Every exchange is logged (who, operation, status, whether the caller
expected that answer, and anything that broke the document), so a suite can
assert afterwards which operations succeeded, which were refused, and that
the document held throughout. The transport is a callable; ``WSGITransport``
runs the application in process.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, urlencode

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMA_PATH = "/api/schema/?format=json"
METHODS = ("get", "put", "post", "patch", "delete")
# Headers every HTTP client sends or the security scheme names; any other
# header a request carries must be a parameter of its operation.
PROTOCOL_HEADERS = {"accept", "content-type", "authorization", "cookie", "content-length"}
_DOC = "urn:release-api"


@dataclass
class Raw:
    """What a transport returns."""
    status: int
    headers: dict  # lower-case names
    body: bytes


class WSGITransport:
    """Requests to a WSGI application in this process (``werkzeug``'s test
    client, which is what Schemathesis uses too)."""

    def __init__(self, app):
        from werkzeug.test import Client

        self.client = Client(app)

    def __call__(self, method: str, url: str, headers: dict, body: bytes | None) -> Raw:
        response = self.client.open(url, method=method, headers=headers, data=body)
        try:
            return Raw(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                       response.get_data())
        finally:
            response.close()


class InvalidRequest(AssertionError):
    """The request the caller asked for breaks the document: a generated
    client would not let it be sent."""


class UnexpectedAnswer(AssertionError):
    """The server answered with a status the caller did not expect."""

    def __init__(self, exchange: Exchange):
        self.exchange = exchange
        super().__init__(exchange.describe())


@dataclass
class Operation:
    operation_id: str
    method: str
    template: str
    spec: dict

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.template}"

    def parameters(self, where: str) -> dict[str, dict]:
        return {p["name"]: p for p in self.spec.get("parameters", []) if p["in"] == where}

    def success_media(self) -> list[str]:
        """The media types its successful answers come in."""
        found = []
        for status, response in self.spec.get("responses", {}).items():
            if status.startswith("2"):
                found += [m for m in response.get("content", {}) if m not in found]
        return found

    @property
    def anonymous(self) -> bool:
        """Open without credentials (``security: [{}]``)."""
        return self.spec.get("security") == [{}]


@dataclass
class Exchange:
    who: str
    operation: Operation
    url: str
    request: Any
    status: int
    answer: Any
    expected: bool
    problems: list[str] = field(default_factory=list)
    note: str = ""
    path: dict = field(default_factory=dict)  # the path parameters

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        answer = self.answer if not isinstance(self.answer, (bytes, str)) else str(self.answer)[:300]
        text = f"{self.who}: {self.operation.label} {self.url} {json.dumps(self.request, default=str)[:400]} -> " \
               f"{self.status} {json.dumps(answer, default=str)[:600]}"
        if self.note:
            text += f" [{self.note}]"
        return text + "".join(f"\n    ! {p}" for p in self.problems)


@dataclass
class Answer:
    status: int
    headers: dict
    body: Any
    exchange: Exchange

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    def items(self) -> list:
        """The objects of a list answer, paginated or not."""
        return self.body["results"] if isinstance(self.body, dict) and "results" in self.body else self.body


class Api:
    """The published document, its operations, and the log of every exchange
    made through it."""

    def __init__(self, document: dict, transport: Callable[..., Raw]):
        self.document = document
        self.transport = transport
        self.log: list[Exchange] = []
        self.operations: dict[str, Operation] = {}
        self.by_label: dict[str, Operation] = {}
        for template, item in document["paths"].items():
            for method in METHODS:
                if method in item:
                    op = Operation(item[method]["operationId"], method, template, item[method])
                    self.operations[op.operation_id] = op
                    self.by_label[op.label] = op
        resource = Resource.from_contents(document, default_specification=DRAFT4)
        self.registry = Registry().with_resource(_DOC, resource)
        self._validators: dict = {}

    @classmethod
    def fetch(cls, transport: Callable[..., Raw], path: str = SCHEMA_PATH) -> Api:
        raw = transport("GET", path, {"Accept": "application/json"}, None)
        assert raw.status == 200, (path, raw.status, raw.body[:300])
        return cls(json.loads(raw.body), transport)

    def operation(self, ref: str) -> Operation:
        """By ``operationId`` or by ``"METHOD /template/"``."""
        op = self.operations.get(ref) or self.by_label.get(ref)
        if op is None:
            raise KeyError(f"the schema offers no operation {ref!r}")
        return op

    def offers(self, ref: str) -> bool:
        return ref in self.operations or ref in self.by_label

    def request_properties(self, ref: str, media: str = "application/json") -> list[str]:
        """The properties an operation's request body may carry, in the
        schema's order (write-only ones included, read-only ones not)."""
        schema = self.operation(ref).spec["requestBody"]["content"][media]["schema"]
        while "$ref" in schema:
            schema = self.resolve(schema["$ref"])
        return [k for k, v in schema.get("properties", {}).items() if not v.get("readOnly")]

    def resolve(self, ref: str) -> dict:
        node = self.document
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def session(self, who: str, token: str | None = None) -> Session:
        return Session(self, who, token)

    # --- validation -----------------------------------------------------------------------------------------------

    def errors(self, instance, pointer: list[str], *, writing: bool) -> list[str]:
        """The ways ``instance`` breaks the schema at ``pointer`` (a path of
        keys into the document), read or written."""
        key = ("/".join(pointer), writing)
        if key not in self._validators:
            ref = _DOC + "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in pointer)
            cls = OAS30WriteValidator if writing else OAS30ReadValidator
            self._validators[key] = cls({"$ref": ref}, registry=self.registry, format_checker=oas30_format_checker)
        validator = self._validators[key]
        found = list(validator.iter_errors(instance))
        if not found:
            return []
        first = best_match(found)
        where = "/".join(str(p) for p in first.absolute_path) or "(body)"
        return [f"{where}: {first.message}"] + ([f"and {len(found) - 1} more"] if len(found) > 1 else [])


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _coerce(value, schema: dict):
    """A query or path value as the type its schema names (they travel as text)."""
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    return value


class Session:
    """One caller (a token, or none) making calls through the document."""

    def __init__(self, api: Api, who: str, token: str | None):
        self.api, self.who, self.token = api, who, token

    def call(self, ref: str, *, path: dict | None = None, query: dict | None = None, body: Any = None,
             headers: dict | None = None, media: str = "application/json", raw_body: bytes | None = None,
             expect: int | set | None = None, note: str = "", soft: bool = False) -> Answer:
        """Call operation ``ref``. ``expect``: the status (or statuses) the
        caller expects; by default any 2xx. Another answer is logged as
        unexpected and raises ``UnexpectedAnswer`` (unless ``soft``: a try
        whose outcome the suite judges afterwards from the log)."""
        op = self.api.operation(ref)
        problems: list[str] = []
        url = self._url(op, path or {}, query or {})
        send_headers = {"Accept": ", ".join(op.success_media()) or "application/json"}
        if self.token:
            send_headers["Authorization"] = f"Token {self.token}"
        declared = op.parameters("header")
        headers = {k: v for k, v in (headers or {}).items() if v is not None}
        for name, value in headers.items():
            if name.lower() not in PROTOCOL_HEADERS and name not in declared:
                # Sent all the same (the test needs the call), and reported:
                # a client generated from the schema would not know it.
                problems.append(f"request header {name!r} is not a parameter of {op.label}")
            send_headers[name] = value
        for name, param in declared.items():
            if param.get("required") and name not in headers:
                raise InvalidRequest(f"{op.label}: header {name!r} is required")
        data = self._body(op, body, media, raw_body)
        if data is not None:
            send_headers["Content-Type"] = media
            if media == "multipart/form-data":
                from django.test.client import MULTIPART_CONTENT

                send_headers["Content-Type"] = MULTIPART_CONTENT  # with its boundary
        raw = self.api.transport(op.method.upper(), url, send_headers, data)
        answer_body = self._decode(raw)
        problems += self._check_answer(op, raw, answer_body)
        wanted = {expect} if isinstance(expect, int) else expect
        expected = (200 <= raw.status < 300) if wanted is None else raw.status in wanted
        exchange = Exchange(self.who, op, url, body if raw_body is None else json.loads(raw_body or b"null"),
                            raw.status, answer_body, expected, problems, note, dict(path or {}))
        self.api.log.append(exchange)
        if not expected and not soft:
            raise UnexpectedAnswer(exchange)
        return Answer(raw.status, raw.headers, answer_body, exchange)

    # Shortcuts by method and template.
    def get(self, template, **kw):
        return self.call(f"GET {template}", **kw)

    def post(self, template, **kw):
        return self.call(f"POST {template}", **kw)

    def patch(self, template, **kw):
        return self.call(f"PATCH {template}", **kw)

    def put(self, template, **kw):
        return self.call(f"PUT {template}", **kw)

    # --- the request --------------------------------------------------------------------------------------------

    def _url(self, op: Operation, path: dict, query: dict) -> str:
        params = op.parameters("path")
        names = re.findall(r"\{(\w+)\}", op.template)
        missing = [n for n in names if n not in path]
        unknown = [n for n in path if n not in names]
        if missing or unknown:
            raise InvalidRequest(f"{op.label}: path parameters missing {missing}, unknown {unknown}")
        url = op.template
        for name in names:
            schema = params.get(name, {}).get("schema", {})
            self._check_value(op, f"path parameter {name!r}", path[name], schema)
            url = url.replace("{" + name + "}", quote(str(path[name]), safe=""))
        declared = op.parameters("query")
        for name, value in query.items():
            if name not in declared:
                raise InvalidRequest(f"{op.label}: query parameter {name!r} is not declared")
            self._check_value(op, f"query parameter {name!r}", value, declared[name].get("schema", {}))
        for name, param in declared.items():
            if param.get("required") and name not in query:
                raise InvalidRequest(f"{op.label}: query parameter {name!r} is required")
        return url + ("?" + urlencode(query, doseq=True) if query else "")

    def _check_value(self, op, what, value, schema):
        pointer = None
        for i, p in enumerate(op.spec.get("parameters", [])):
            if p.get("schema") is schema:
                pointer = ["paths", op.template, op.method, "parameters", str(i), "schema"]
        if pointer is None:
            return
        values = value if isinstance(value, list) else [value]
        for v in values:
            errors = self.api.errors(_coerce(v, schema), pointer, writing=True)
            if errors:
                raise InvalidRequest(f"{op.label}: {what} = {v!r}: {'; '.join(errors)}")

    def _body(self, op: Operation, body, media: str, raw_body: bytes | None) -> bytes | None:
        request_body = op.spec.get("requestBody")
        if body is None and raw_body is None:
            if request_body and request_body.get("required"):
                raise InvalidRequest(f"{op.label}: a request body is required")
            return None
        if not request_body:
            raise InvalidRequest(f"{op.label} takes no request body")
        if media not in request_body["content"]:
            raise InvalidRequest(f"{op.label} does not take {media} (only {sorted(request_body['content'])})")
        if media == "multipart/form-data":  # a file is given as (name, content)
            instance = {k: "<binary>" if isinstance(v, tuple) else v for k, v in body.items()}
        else:
            instance = body if raw_body is None else json.loads(raw_body)
        errors = self.api.errors(instance, ["paths", op.template, op.method, "requestBody", "content", media,
                                            "schema"], writing=True)
        if errors:
            raise InvalidRequest(f"{op.label}: the body breaks the schema: {'; '.join(errors)}")
        if media == "multipart/form-data":
            from django.core.files.uploadedfile import SimpleUploadedFile
            from django.test.client import BOUNDARY, encode_multipart

            return encode_multipart(BOUNDARY, {k: SimpleUploadedFile(*v) if isinstance(v, tuple) else v
                                               for k, v in body.items() if v is not None})
        return raw_body if raw_body is not None else json.dumps(body).encode()

    # --- the answer ---------------------------------------------------------------------------------------------

    @staticmethod
    def _decode(raw: Raw):
        if not raw.body:
            return None
        if _media(raw.headers.get("content-type")).endswith("json"):
            try:
                return json.loads(raw.body)
            except ValueError:
                return raw.body.decode(errors="replace")
        return raw.body.decode(errors="replace")

    def _check_answer(self, op: Operation, raw: Raw, body) -> list[str]:
        responses = op.spec.get("responses", {})
        status = str(raw.status)
        key = status if status in responses else f"{status[0]}XX" if f"{status[0]}XX" in responses else \
            "default" if "default" in responses else None
        if key is None:
            return [f"status {status} is not documented for {op.label} (documented: {sorted(responses)})"]
        content = responses[key].get("content")
        if not content:
            return [f"{status} documents no body, yet one came"] if raw.body else []
        media = _media(raw.headers.get("content-type"))
        if media not in content:
            return [f"content type {media!r} is not documented for {status} (documented: {sorted(content)})"]
        if not media.endswith("json"):
            return []
        if not isinstance(body, (dict, list)) and not content[media].get("schema", {}).get("type") == "string":
            return [f"{status}: the body is not JSON"]
        errors = self.api.errors(body, ["paths", op.template, op.method, "responses", key, "content", media,
                                        "schema"], writing=False)
        return [f"{status} body breaks the schema: {e}" for e in errors]
