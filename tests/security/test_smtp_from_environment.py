"""Mail goes out through the SMTP server the environment names, logged in,
over STARTTLS, under the production settings: a local SMTP server (aiosmtpd)
that refuses to log anyone in before STARTTLS, with a certificate from a
throwaway authority the sending process is told to trust."""
from __future__ import annotations

import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import free_port

from .deployment import production_env

aiosmtpd = pytest.importorskip("aiosmtpd.controller")
trustme = pytest.importorskip("trustme")

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "relay@example.com", "s3cret-relay"

SEND = textwrap.dedent("""
    import django
    django.setup()
    from notifications.tasks import _send
    from releases.models import OutboxMessage
    # The relay's own sending step, for one message of the outbox.
    _send(OutboxMessage(channel="email", recipient="cab@example.com", subject="REL-00001 needs your vote",
                        body="A plan waits for the CAB.", event="plan_submitted", dedupe_key="smtp-test",
                        payload={"html": "<p>A plan waits for the CAB.</p>"}))
""")


class Keeper:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode(),
                              session.authenticated, session.ssl is not None))
        return "250 OK"


@pytest.fixture
def smtp_server(tmp_path):
    from aiosmtpd.smtp import AuthResult

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        return AuthResult(success=ok)

    keeper = Keeper()
    port = free_port()
    controller = aiosmtpd.Controller(keeper, hostname="127.0.0.1", port=port, tls_context=context,
                                     require_starttls=True, auth_require_tls=True, authenticator=authenticator,
                                     server_hostname="localhost")
    controller.start()
    try:
        yield keeper, port, ca_file
    finally:
        controller.stop()


def _send(port, ca_file, **overrides):
    env = production_env(EMAIL_HOST="localhost", EMAIL_PORT=str(port), EMAIL_HOST_USER=USER,
                         EMAIL_HOST_PASSWORD=PASSWORD, EMAIL_USE_TLS="true", EMAIL_TIMEOUT="10",
                         DEFAULT_FROM_EMAIL="releases@example.com", SSL_CERT_FILE=str(ca_file),
                         DATABASE_URL="sqlite:///unused.sqlite3")
    env.pop("EMAIL_BACKEND", None)  # production's default: SMTP
    env.update(overrides)
    return subprocess.run([sys.executable, "-c", SEND], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_a_notification_reaches_the_smtp_server_the_environment_names(smtp_server):
    keeper, port, ca_file = smtp_server
    done = _send(port, ca_file)
    assert done.returncode == 0, done.stderr[-2000:]
    [(sender, recipients, content, authenticated, over_tls)] = keeper.messages
    assert (sender, recipients, authenticated, over_tls) == ("releases@example.com", ["cab@example.com"], True, True)
    assert "Subject: REL-00001 needs your vote" in content and "text/html" in content


def test_a_wrong_password_or_no_starttls_sends_nothing(smtp_server):
    keeper, port, ca_file = smtp_server
    refused = _send(port, ca_file, EMAIL_HOST_PASSWORD="wrong", EMAIL_TIMEOUT="3")
    assert refused.returncode != 0 and "smtplib.SMTP" in refused.stderr
    plain = _send(port, ca_file, EMAIL_USE_TLS="false")  # the server logs no one in before STARTTLS
    assert plain.returncode != 0 and "smtplib.SMTP" in plain.stderr
    assert keeper.messages == []


def test_an_untrusted_certificate_is_refused(smtp_server, tmp_path):
    keeper, port, _ = smtp_server
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    refused = _send(port, other)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    assert keeper.messages == []


def test_starttls_and_implicit_tls_together_are_refused_at_start(smtp_server):
    _, port, ca_file = smtp_server
    both = _send(port, ca_file, EMAIL_USE_SSL="true")
    assert both.returncode != 0 and "not both" in both.stderr
