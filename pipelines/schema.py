"""The gate token in the OpenAPI schema: a bearer scheme, declared on the
gate's operations only (every other operation refuses it)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class GateTokenScheme(OpenApiAuthenticationExtension):
    target_class = "pipelines.auth.GateTokenAuthentication"
    name = "gateToken"

    def get_security_requirement(self, auto_schema):
        if getattr(auto_schema.view, "accepts_gate_tokens", False):
            return {self.name: []}
        return None

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A pipeline's gate token (`gate_…`, made in Django admin, shown once): accepted "
                               "by the deployment gate (`/api/gate/`) and by nothing else."}
