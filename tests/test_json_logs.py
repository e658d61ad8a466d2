"""LOG_FORMAT=json: each log line is one JSON object carrying the request's
correlation id (the id of the X-Request-ID header and the 500 page)."""
import io
import json
import logging
import logging.config
import runpy
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTINGS_FILE = Path(settings.BASE_DIR) / "releasemgmt" / "settings" / "__init__.py"


def _settings_under(monkeypatch, value):
    monkeypatch.setenv("LOG_FORMAT", value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_log_format_json_from_the_environment_selects_the_json_formatter(monkeypatch):
    assert _settings_under(monkeypatch, "json")["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    assert _settings_under(monkeypatch, "text")["LOGGING"]["handlers"]["console"]["formatter"] == "default"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        _settings_under(monkeypatch, "xml")


@pytest.fixture
def json_lines():
    """What the configured JSON formatter writes for ``django.request``."""
    stream = io.StringIO()
    config = logging.config.DictConfigurator({"version": 1})
    handler = logging.StreamHandler(stream)
    handler.addFilter(config.configure_filter(dict(settings.LOGGING["filters"]["correlation_id"])))
    handler.setFormatter(config.configure_formatter(dict(settings.LOGGING["formatters"]["json"])))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def test_a_requests_log_line_is_json_with_its_correlation_id(client, json_lines):
    response = client.get("/no-such-page/", headers={"X-Request-ID": "lb-7f3a9c2e-0042"})
    assert response.status_code == 404
    (line,) = json_lines()  # valid JSON, one object on one line
    assert line["correlation_id"] == response["X-Request-ID"] == "lb-7f3a9c2e-0042"
    assert (line["level"], line["logger"], line["status_code"]) == ("WARNING", "django.request", 404)
    assert "/no-such-page/" in line["message"] and line["time"]
