"""Fixtures for the REST API tests: token-authenticated clients per user."""
import pytest

from tests.helpers import token_client


@pytest.fixture
def client_for(db):
    """``client_for(user)``: an APIClient sending ``Authorization: Token <key>``
    for ``user``; ``client_for(None)`` is anonymous (``tests.helpers.token_client``)."""
    return token_client
