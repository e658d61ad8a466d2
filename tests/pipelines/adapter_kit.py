"""What the adapter tests share: a local fake server standing in for
GitHub's callback API and GitLab's API (no network), an adapter of each kind
pointing at it, and signed deliveries."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from pipelines.adapter_models import PipelineAdapter

WEBHOOK_SECRET = "whsec-test-0123456789"
API_TOKEN = "ghs_installation-token-for-tests"
_ids = itertools.count(1)


class FakePlatform:
    """Records every request it gets; answers each with the next of
    ``statuses`` (the last one repeated)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses = [204]
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                platform.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "json": json.loads(body or b"{}")})
                code = platform.statuses.pop(0) if len(platform.statuses) > 1 else platform.statuses[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform():
    fake = FakePlatform()
    yield fake
    fake.close()


def make_adapter(kind, user, base_url, **fields) -> PipelineAdapter:
    adapter = PipelineAdapter(name=f"{kind} test", kind=kind, user=user, base_url=base_url, **fields)
    adapter.set_secrets(webhook_secret=WEBHOOK_SECRET, api_token=API_TOKEN)
    adapter.save()
    return adapter


def github_post(adapter, payload, *, secret=WEBHOOK_SECRET, delivery=None, event="deployment_protection_rule",
                signature=None):
    body = json.dumps(payload).encode()
    if signature is None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery or f"delivery-{next(_ids)}"}
    if signature:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return APIClient().post(f"/api/gate/github/{adapter.pk}/", body, content_type="application/json", **headers)


def gitlab_post(adapter, payload, *, token=WEBHOOK_SECRET, key=None):
    headers = {"HTTP_X_GITLAB_EVENT": "Deployment Hook", "HTTP_IDEMPOTENCY_KEY": key or f"key-{next(_ids)}"}
    if token:
        headers["HTTP_X_GITLAB_TOKEN"] = token
    return APIClient().post(f"/api/gate/gitlab/{adapter.pk}/", json.dumps(payload).encode(),
                            content_type="application/json", **headers)


# --- one release, walked once per module ------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter_world(django_db_setup, django_db_blocker):
    """A release walked to Go once for the module (walking is slow) and
    rolled back after it; each test runs in a savepoint inside it."""
    from releases.scenario import Walker, new_release
    from tests.helpers import built_once, create_user, make_actors, make_cis

    def build():
        actors = make_actors(lambda username, role: create_user(username, role))
        walker = Walker(new_release(actors, cis=make_cis()), actors)
        walker.to("go")
        return {"actors": actors, "release_id": walker.release.pk}

    with built_once(django_db_blocker, build) as built:
        yield built


@pytest.fixture
def at_go(adapter_world, db):
    """The release at Go (its backup not recorded yet): its Walker."""
    from releases.models import Release
    from releases.scenario import Walker

    return Walker(Release.objects.get(pk=adapter_world["release_id"]), adapter_world["actors"])


@pytest.fixture
def backed_up(at_go):
    """The release with its backup recorded: the gate allows its deployment."""
    at_go.go_()
    return at_go.release
