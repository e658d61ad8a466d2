"""The OpenAPI schema class of the REST API (its own module: the settings
name it, and importing drf-spectacular's AutoSchema from ``releasemgmt.api``
would be circular with DRF's settings)."""
from drf_spectacular.openapi import AutoSchema

from .api import VALIDATION_ERROR, ErrorSerializer


# --- the schema: what every list can answer besides 200 -------------------------------



class ApiAutoSchema(AutoSchema):
    """Lists also answer 400 (a filter or ordering that does not parse), 401
    and 404 (a page number past the end); say so in the schema."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method == "GET" and self._is_list_view():
            for code, body in ((400, VALIDATION_ERROR), (401, ErrorSerializer), (404, ErrorSerializer)):
                if str(code) not in responses:
                    responses[str(code)] = self._get_response_for_code(body, str(code))
        return responses
