"""Evidence files: attached to a test result over the API and in place on the
release page, seen (and downloaded) exactly by whoever sees the release,
refused with the reason when too big or not what they claim to be, kept
with their SHA-256 in the release's history and the audit export, and
superseded, never replaced."""
from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.export import evidence_csv
from evidence.models import EvidenceFile
from releases import services as s
from releases.models import RefusedAttempt, Vendor
from releases.scenario import new_release
from tests.helpers import create_user, reach, token_client

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def world(actors, cis):
    """A release in testing with one test result; a vendor on it (Acme) and
    a vendor on another release only (Globex)."""
    walker = reach(actors, cis, "testing")
    release = walker.release
    case = release.test_cases.first()
    result = s.record_add(release_id=release.pk, record_type="test_results", by=actors.test_team, test_case=case,
                          outcome="passed")
    other = new_release(actors, title="Another release")
    users = {}
    for name, on in (("acme", release), ("globex", other)):
        vendor = Vendor.objects.create(name=name.title(), email=f"{name}@example.test")
        users[name] = create_user(f"{name}-user", "vendor")
        vendor.users.add(users[name])
        s.task_create(release_id=on.pk, by=actors.release_manager, title=f"{name} work", step=12,
                      assignee_vendor=vendor)
    return release, result, users


def upload(user, record_id, content=PDF, name="smoke-report.pdf", record_type="test_results", **extra):
    return token_client(user).post("/api/evidence/", {
        "record_type": record_type, "record_id": record_id, "file": SimpleUploadedFile(name, content), **extra},
        format="multipart")


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_test_results_file_is_seen_as_its_release_is_and_its_hash_is_in_the_audit_export(
        world, actors, client, _private_media):
    release, result, users = world
    response = upload(actors.test_team, result.pk, note="Smoke run 42")
    assert response.status_code == 201, response.content
    body = response.json()
    digest = hashlib.sha256(PDF).hexdigest()
    assert body["sha256"] == digest and body["size"] == len(PDF) and body["media_type"] == "application/pdf"
    assert (body["record_type"], body["record_id"], body["release"]) == ("test_results", result.pk, release.pk)
    url = body["download"]

    # Whoever sees the release downloads it: an internal reader over the API,
    # Acme's vendor user (whose task is on it) in the browser.
    got = token_client(actors.requester).get(url)
    assert got.status_code == 200 and b"".join(got.streaming_content) == PDF
    assert got["Content-Disposition"] == 'attachment; filename="smoke-report.pdf"'
    assert got["X-Content-Type-Options"] == "nosniff" and got["Content-Type"] == "application/octet-stream"
    client.force_login(users["acme"])
    assert client.get(f"/evidence/{body['id']}/download/").status_code == 200
    # A vendor of another release: refused (403), on both paths, and the
    # file's name and hash are not in the answer; it does not list it either.
    refused = token_client(users["globex"]).get(url)
    assert refused.status_code == 403 and b"smoke-report" not in refused.content and digest.encode() not in refused.content
    client.force_login(users["globex"])
    assert client.get(f"/evidence/{body['id']}/download/").status_code == 403
    # A file that does not exist is simply not found.
    assert token_client(users["globex"]).get(f"/api/evidence/{body['id'] + 999}/download/").status_code == 404
    assert token_client(users["globex"]).get("/api/evidence/").json()["count"] == 0
    # Someone with no role at all: 403.
    assert token_client(create_user("nobody")).get(url).status_code == 403

    # The store holds it under a name of its own, outside anything served.
    assert [p.read_bytes() for p in stored_files(_private_media)] == [PDF]

    history = token_client(actors.release_manager).get(f"/api/releases/{release.pk}/history/?page_size=200").json()
    assert [e["change"]["fields"] for e in history["results"] if e["subject_type"] == "evidence"] != []

    today = timezone.now()
    rows = list(csv.DictReader(io.StringIO("".join(evidence_csv(today - timedelta(days=1), today)).lstrip("\ufeff"))))
    files = [r for r in rows if r["evidence_type"] == "evidence_file"]
    assert [(r["file_sha256"], r["subject"]) for r in files] == [(digest, release.number)]
    assert "smoke-report.pdf" in files[0]["detail"] and files[0]["actor"] == actors.test_team.username


REFUSED = [
    ("big.pdf", PDF + b"x" * 2000, "file_too_large"),
    ("report.pdf", b"#!/bin/sh\nrm -rf /\n", "file_content"),  # named as a PDF, it is not one
    ("tool.exe", b"MZ\x90\x00" + b"\x00" * 100, "file_type"),
    ("notes.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "file_content"),
    ("empty.txt", b"", "file_empty"),
]


def test_a_file_too_big_or_not_what_it_claims_is_a_400_with_the_reason_and_nothing_is_stored(
        world, actors, settings, _private_media):
    settings.EVIDENCE_MAX_BYTES = 1024
    _, result, _ = world
    for name, content, code in REFUSED:
        response = upload(actors.test_team, result.pk, content=content, name=name)
        assert response.status_code == 400, (name, response.content)
        assert response.json()["code"] == code and response.json()["file"], name
    assert not EvidenceFile.objects.exists() and not stored_files(_private_media)


def test_only_who_may_write_the_record_attaches_and_the_refusal_is_kept(world, actors):
    release, result, users = world
    assert upload(users["acme"], result.pk).status_code == 403
    assert upload(actors.requester, result.pk).status_code == 403
    assert upload(users["globex"], result.pk).status_code == 404
    assert RefusedAttempt.objects.filter(action="attach_evidence").count() == 2
    assert not EvidenceFile.objects.exists()


def test_a_new_version_supersedes_the_old_which_stays_listed(world, actors):
    release, result, _ = world
    first = upload(actors.test_team, result.pk).json()
    second = upload(actors.test_team, result.pk, content=PDF + b"% corrected\n", name="smoke-report-v2.pdf",
                    supersedes=first["id"])
    assert second.status_code == 201 and second.json()["supersedes"] == first["id"]
    listed = token_client(actors.requester).get(f"/api/evidence/?release={release.pk}").json()["results"]
    assert [(f["id"], f["superseded_by"]) for f in listed] == [(first["id"], second.json()["id"]),
                                                               (second.json()["id"], None)]
    # Superseded once only: the old version stays as it is.
    again = upload(actors.test_team, result.pk, supersedes=first["id"])
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    current = token_client(actors.requester).get(f"/api/evidence/?release={release.pk}&current=true").json()
    assert [f["id"] for f in current["results"]] == [second.json()["id"]]


LIST_QUERIES = 4  # the session or token's user, their roles, the count, the page (with uploaders and successors)


def test_the_listing_takes_the_same_queries_whatever_its_length(world, actors):
    release, result, _ = world
    client = token_client(actors.requester)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/evidence/?release={release.pk}").status_code == 200
        return len(ctx.captured_queries)

    upload(actors.test_team, result.pk)
    count()  # warm the content types
    one = count()
    for _ in range(4):
        upload(actors.release_manager, result.pk)
    assert count() == one == LIST_QUERIES


def test_a_file_is_attached_in_place_on_the_release_page(world, actors, client):
    release, result, _ = world
    client.force_login(actors.test_team)
    page = client.get(f"/releases/{release.pk}/").content.decode()
    panel = f'id="evidence-test_results-{result.pk}"'
    assert panel in page and f'hx-post="/evidence/attach/test_results/{result.pk}/"' in page

    url = f"/evidence/attach/test_results/{result.pk}/"
    refused = client.post(url, {"file": SimpleUploadedFile("run.exe", b"MZ\x90\x00")}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and "are not accepted" in refused.content.decode()
    assert panel in refused.content.decode() and "<html" not in refused.content.decode()

    done = client.post(url, {"file": SimpleUploadedFile("run.log", b"all green\n"), "note": "CI run"},
                       HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and "run.log" in done.content.decode()
    assert hashlib.sha256(b"all green\n").hexdigest() in done.content.decode()
    # Without htmx, a plain form post: back to the page, at the panel.
    plain = client.post(url, {"file": SimpleUploadedFile("run2.log", b"still green\n")})
    assert plain.status_code == 302 and plain["Location"].endswith(f"#evidence-test_results-{result.pk}")
    assert EvidenceFile.objects.get(name="run.log").media_type == "text/plain"
