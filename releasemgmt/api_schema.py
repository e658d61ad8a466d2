"""The OpenAPI schema class of the REST API (its own module: the settings
name it, and importing drf-spectacular's AutoSchema from ``releasemgmt.api``
would be circular with DRF's settings)."""
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from .api import VALIDATION_ERROR, ErrorSerializer, StrictInput

# --- the schema: what every operation can answer besides its own responses ---------------

BAD_REQUEST = OpenApiResponse(VALIDATION_ERROR, description=(
    "Bad input: an invalid field, filter or parameter, a body that cannot be parsed, nests deeper than the "
    "limit or holds a control character, or a control character in the query string."))
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No valid token or session.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=(
    "No such object (or not one you may see), an id that is not one, or a page past the end."))
TOO_LARGE = OpenApiResponse(ErrorSerializer, description="The request body is larger than the limit.")
UNSUPPORTED = OpenApiResponse(ErrorSerializer, description="A body in a media type the operation does not take.")
THROTTLED = OpenApiResponse(ErrorSerializer, description=(
    "Too many requests (the rate limit; `code` `throttled`) or, on the token endpoint, too many failed "
    "logins (`locked_out`); `Retry-After` says when to try again."))


class ApiAutoSchema(AutoSchema):
    """Every operation also declares what the layers before its view may
    answer, in the error object: 400 (refused input, or a filter that does
    not parse), 401 (unless it is open), 404 (an object or a page that is not
    there), 413 (a body over the limit), 415 (a body in a media type it does
    not take) and 429 (rate limit, lock-out)."""

    def _map_basic_serializer(self, serializer, direction):
        # A request body takes only the fields it lists: any other is a 400
        # (api.StrictInput), and the schema says so.
        result = super()._map_basic_serializer(serializer, direction)
        strict = issubclass(serializer if isinstance(serializer, type) else type(serializer), StrictInput)
        if direction == "request" and strict:
            result["additionalProperties"] = False
        return result

    def _get_parameters(self):
        # An optional query parameter given empty is as if it were absent
        # (django-filter, DRF's pagination, search and ordering, the
        # calendar and metrics filters all read it so): say so.
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter.get("in") == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in self._shared_responses().items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(response, str(code))
        return responses

    def _shared_responses(self) -> dict:
        shared = {400: BAD_REQUEST, 429: THROTTLED}
        if not self._is_open():
            shared[401] = UNAUTHENTICATED
        if self._is_list_view() or "{" in self.path:
            shared[404] = NOT_FOUND
        if self.method in ("POST", "PUT", "PATCH"):
            shared[413] = TOO_LARGE
            shared[415] = UNSUPPORTED
        return shared

    def _is_open(self) -> bool:
        """Whether anonymous clients may call it (the token endpoint, the
        vendor inbound view): no 401 to declare."""
        permissions = self.view.get_permissions()
        return not permissions or any(isinstance(p, AllowAny) for p in permissions)


def nullable_references(result, generator, request, public):
    """drf-spectacular writes a nullable nested object as ``{"allOf": [ref],
    "nullable": true}``. OpenAPI 3.0.3 gives ``nullable`` effect only beside
    a ``type``, so a validator (and a strict generated client) reading the
    schema as written refuses the null the API sends (a history entry's
    ``transition`` or ``change``, the gate's ``release`` outside a gated
    environment). Written instead as "the object, or null", which every
    reading of 3.0 agrees on."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("nullable") and "type" not in node and len(node.get("allOf", ())) == 1:
                referenced = node.pop("allOf")[0]
                node.pop("nullable")
                node["anyOf"] = [referenced, {"enum": [None], "nullable": True}]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
