"""Fixtures for the REST API tests: token-authenticated clients per user."""
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def client_for(db):
    """``client_for(user)``: an APIClient sending ``Authorization: Token <key>``
    for ``user``; ``client_for(None)`` is anonymous."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
