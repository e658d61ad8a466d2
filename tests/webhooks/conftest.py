"""A local subscriber (http.server in a thread) that verifies every delivery
with the ``standardwebhooks`` package, and a release manager's API client."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.helpers import token_client


class Subscriber:
    """Answers 204 while up, 503 while down; keeps every request it got,
    with whether its signature verified under ``secret``."""

    def __init__(self):
        self.up = True
        self.secret = ""
        self.received: list[dict] = []
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                try:
                    event = Webhook(subscriber.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    event, verified = None, False
                subscriber.received.append({"id": self.headers.get("webhook-id"), "event": event, "verified": verified,
                                            "answered": 204 if subscriber.up else 503,
                                            "headers": headers, "body": body.decode()})
                self.send_response(204 if subscriber.up else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/releases"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted(self) -> list[dict]:
        return [r for r in self.received if r["answered"] == 204]


@pytest.fixture
def subscriber(settings):
    # The subscriber runs on this machine: allow loopback addresses.
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    sub = Subscriber()
    sub.thread.start()
    yield sub
    sub.server.shutdown()
    sub.server.server_close()


@pytest.fixture
def rm(make_user):
    return make_user("release_manager")


@pytest.fixture
def rm_client(rm):
    return token_client(rm)


@pytest.fixture
def subscribe(rm_client, subscriber):
    """``subscribe(*event_types)``: a subscription of the local subscriber
    made over the API (its answer), the subscriber given its secret."""
    def make(*event_types):
        response = rm_client.post("/api/webhooks/", {"url": subscriber.url, "event_types": list(event_types),
                                                     "description": "Chat bot"}, format="json")
        assert response.status_code == 201, response.json()
        subscriber.secret = response.json()["secret"]
        return response.json()
    return make
