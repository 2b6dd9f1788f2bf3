"""Uploaded documents: type sniffed from the bytes, stored privately, served only as a download to those allowed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.records import storage
from ihospital.records.models import Document
from ihospital.records.services import upload_document
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    + b"\0" * 32
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.PRIVATE_STORAGE_ROOT).rglob("*") if p.is_file()]


def upload(client, patient, headers, name, content, content_type="application/octet-stream", kind="lab_report"):
    return client.post(
        f"/api/patients/{patient.pk}/documents",
        {"kind": kind, "title": "化验单", "file": SimpleUploadedFile(name, content, content_type=content_type)},
        headers=headers,
    )


@pytest.mark.parametrize(
    ("name", "content", "claimed", "sniffed"),
    [
        ("scan.png", PNG, "image/png", "image/png"),
        ("report.pdf", PDF, "application/pdf", "application/pdf"),
        ("photo.jpg", PNG, "image/jpeg", "image/png"),  # the bytes decide, not the name or the browser
    ],
)
def test_upload_is_sniffed_hashed_and_stored_privately(client, patient, settings, name, content, claimed, sniffed):
    headers = token_headers(patient.user)
    response = upload(client, patient, headers, name, content, claimed)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == sniffed
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert "storage_name" not in body

    doc = Document.objects.get(pk=body["id"])
    assert doc.original_name == name and doc.recorded_by == patient.user and doc.patient == patient
    path = storage.path_of(doc.storage_name)
    assert path.read_bytes() == content
    assert path.is_relative_to(Path(settings.PRIVATE_STORAGE_ROOT))
    assert not path.is_relative_to(Path(settings.STATIC_ROOT))
    assert name not in doc.storage_name  # random name on disk
    assert stored_files(settings) == [path]
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="records.document", object_id=str(doc.pk), patient_id=patient.pk
    ).exists()


@pytest.mark.parametrize(
    ("name", "content", "claimed", "code"),
    [
        ("x.pdf", HTML, "application/pdf", "unsupported_file_type"),
        ("x.png", b"#!/bin/sh\nrm -rf /\n", "image/png", "unsupported_file_type"),
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml",
         "unsupported_file_type"),
        ("empty.pdf", b"", "application/pdf", "empty_file"),
    ],
)
def test_refused_uploads_leave_no_row_and_no_file(client, patient, settings, name, content, claimed, code):
    headers = token_headers(patient.user)
    before = counts(with_audit=True)
    response = upload(client, patient, headers, name, content, claimed)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == code
    assert counts(with_audit=True) == before
    assert stored_files(settings) == []


def test_too_large_upload_is_refused(client, patient, settings):
    settings.DOCUMENT_MAX_BYTES = 100
    headers = token_headers(patient.user)
    before = counts(with_audit=True)
    response = upload(client, patient, headers, "big.png", PNG + b"\0" * 200, "image/png")
    assert response.status_code == 400
    assert error_of(response)["code"] == "file_too_large"
    assert counts(with_audit=True) == before
    assert stored_files(settings) == []


def test_too_large_stream_without_a_declared_size_is_removed(patient, settings):
    # An upload object that does not announce its size is measured while it is written, then removed.
    settings.DOCUMENT_MAX_BYTES = 100
    file = SimpleUploadedFile("big.png", PNG + b"\0" * 500, content_type="image/png")
    file.size = None
    with pytest.raises(DomainError) as exc:
        upload_document(actor=patient.user, patient_id=patient.pk, kind="image", title="", file=file)
    assert exc.value.code == "file_too_large"
    assert stored_files(settings) == [] and not Document.objects.exists()


def test_invalid_kind_is_refused_before_anything_is_stored(client, patient, settings):
    headers = token_headers(patient.user)
    response = upload(client, patient, headers, "scan.png", PNG, "image/png", kind="selfie")
    assert error_of(response)["code"] == "invalid_document_kind"
    assert stored_files(settings) == [] and not Document.objects.exists()


def test_upload_to_someone_elses_chart_is_404(client, patient, other_patient, settings):
    headers = token_headers(patient.user)
    before = counts()
    response = upload(client, other_patient, headers, "scan.png", PNG, "image/png")
    assert response.status_code == 404
    assert counts() == before
    assert stored_files(settings) == []


def test_a_failure_after_the_file_is_written_removes_it(patient, settings, monkeypatch):
    from ihospital.records import services

    def boom(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.audit, "record", boom)
    with pytest.raises(RuntimeError):
        services.upload_document(
            actor=patient.user, patient_id=patient.pk, kind="image", title="",
            file=SimpleUploadedFile("scan.png", PNG, content_type="image/png"),
        )
    assert stored_files(settings) == [] and not Document.objects.exists()


def test_download_is_an_attachment_with_the_sniffed_type(client, patient):
    headers = token_headers(patient.user)
    doc_id = upload(client, patient, headers, "photo.jpg", PNG, "image/jpeg").json()["id"]
    response = client.get(f"/api/documents/{doc_id}/download", headers=headers)
    # Reading the whole stream also closes the file (the test client closes the response when it ends).
    content = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert content == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "photo.jpg" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(
        action=AuditAction.READ, object_type="records.document", object_id=str(doc_id), actor=patient.user
    ).exists()


def test_download_of_another_patients_document_is_404(client, patient, other_patient):
    theirs = token_headers(other_patient.user)
    doc_id = upload(client, other_patient, theirs, "scan.png", PNG, "image/png").json()["id"]
    response = client.get(f"/api/documents/{doc_id}/download", headers=token_headers(patient.user))
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert PNG not in response.content
    assert AuditEvent.objects.filter(
        actor=patient.user, outcome=AuditOutcome.DENIED, patient_id=other_patient.pk
    ).exists()
    assert client.get(f"/api/documents/{doc_id + 999}/download", headers=theirs).status_code == 404


def test_storage_refuses_paths_outside_its_folder():
    with pytest.raises(DomainError):
        storage.path_of("../../secret_key")
