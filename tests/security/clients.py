"""Test clients that reach the application as its users do: over HTTPS.

Production settings redirect plain HTTP to HTTPS (``SECURE_SSL_REDIRECT``),
send HSTS only over HTTPS, and Django's CSRF protection checks the Referer of
an unsafe HTTPS request that carries no Origin. These clients make every
request over HTTPS from a page of the same site, as a browser on the
deployment does, so a test holds under the development and the production
settings alike. They take the same arguments as Django's ``Client`` and DRF's
``APIClient``; a Referer the test gives (in the request or the client's
defaults) is kept, so a test can still send a foreign one.

A test that wants plain HTTP (e.g. to see the redirect) uses Django's own
``django.test.Client``.
"""
from __future__ import annotations

from django.test import Client as DjangoClient
from rest_framework.test import APIClient as DrfAPIClient

from tests import helpers


class HttpsMixin:
    def request(self, **request):
        request["wsgi.url_scheme"] = "https"
        request["SERVER_PORT"] = "443"
        if "HTTP_REFERER" not in request and "HTTP_REFERER" not in self.defaults:
            host = request.get("HTTP_HOST") or self.defaults.get("HTTP_HOST") or "testserver"
            request["HTTP_REFERER"] = f"https://{host}/"
        return super().request(**request)


class Client(HttpsMixin, DjangoClient):
    """``django.test.Client`` over HTTPS."""


class APIClient(HttpsMixin, DrfAPIClient):
    """``rest_framework.test.APIClient`` over HTTPS."""


def token_client(user=None, **defaults) -> APIClient:
    """An ``APIClient`` over HTTPS made with ``defaults``, sending the user's
    API token (``tests.helpers.token_client``); anonymous for ``None``."""
    return helpers.token_client(user, client_class=APIClient, **defaults)
