"""The visit's chat through the services and the API: stored before it is broadcast, idempotent resends, limits,
attachments kept as chart documents, resuming after an id, read receipts, and the audit of every access."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.records.models import Document, DocumentKind
from ihospital.visits import chat, realtime, services
from ihospital.visits.models import Message, MessageKind, ReadMark
from tests.helpers import error_of, token_headers
from tests.visits import flows

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    + b"\0" * 32
)
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture
def visit(patient, diagnosis, slot, doc):
    return flows.accept(flows.book(patient, slot, diagnosis), doc)


@pytest.fixture
def sent(monkeypatch):
    """Every event the services hand to the channel layer, in order (the real layer still gets them)."""
    events: list[tuple[str, dict]] = []
    original = realtime._send

    def spy(group, event):
        events.append((group, event))
        original(group, event)

    monkeypatch.setattr(realtime, "_send", spy)
    return events


def chat_events(events, visit):
    return [e for g, e in events if g == realtime.visit_group(visit.pk) and e["type"] == "chat.message"]


def test_a_message_is_stored_first_and_broadcast_only_after_commit(visit, patient, sent,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = chat.post_message(actor=patient.user, visit_id=visit.pk, body="今天血压 150/95")
        # Stored, and nothing sent yet: the transaction has not committed.
        assert Message.objects.filter(pk=message.pk, body="今天血压 150/95", sender=patient.user).exists()
        assert chat_events(sent, visit) == []
    assert callbacks
    for callback in callbacks:
        callback()
    (event,) = chat_events(sent, visit)
    assert event["message"]["id"] == message.pk and event["message"]["body"] == "今天血压 150/95"
    assert event["message"]["sender_id"] == patient.user.pk and event["message"]["kind"] == "text"


def test_a_message_rolled_back_is_never_broadcast(visit, patient, sent, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        chat.post_message(actor=patient.user, visit_id=visit.pk, body="发出去又撤回")
        raise RuntimeError("the request failed after the message was written")
    assert callbacks == []
    assert chat_events(sent, visit) == []
    assert not Message.objects.filter(body="发出去又撤回").exists()


def test_a_resend_with_the_same_client_id_is_stored_once(client, visit, patient):
    first = chat.post_message(actor=patient.user, visit_id=visit.pk, body="你好", client_id="c-1")
    again = chat.post_message(actor=patient.user, visit_id=visit.pk, body="你好", client_id="c-1")
    assert again.pk == first.pk
    headers = token_headers(patient.user)
    responses = [
        client.post(f"/api/visits/{visit.pk}/messages", {"body": "在吗", "client_id": "c-2"},
                    content_type="application/json", headers=headers)
        for _ in range(2)
    ]
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert Message.objects.filter(visit=visit, sender=patient.user).count() == 2


def test_the_same_client_id_from_the_other_side_is_a_different_message(visit, patient, doc):
    mine = chat.post_message(actor=patient.user, visit_id=visit.pk, body="1", client_id="same")
    theirs = chat.post_message(actor=doc.user, visit_id=visit.pk, body="2", client_id="same")
    assert mine.pk != theirs.pk


@pytest.mark.parametrize("ending", ["close", "cancel", "refer"])
def test_no_messages_once_the_visit_has_ended(visit, patient, doc, ending):
    if ending == "close":
        flows.close(visit, doc)
    elif ending == "cancel":
        services.cancel_visit(actor=patient.user, visit_id=visit.pk)
    else:
        services.refer_in_person(actor=doc.user, visit_id=visit.pk, reason="请来门诊")
    before = flows.state()
    for actor in (patient.user, doc.user):
        with pytest.raises(DomainError) as exc:
            chat.post_message(actor=actor, visit_id=visit.pk, body="还有一个问题")
        assert (exc.value.code, exc.value.status) == ("visit_closed", 409)
    assert flows.state() == before


def test_empty_and_too_long_messages_are_refused(client, visit, patient, settings):
    settings.CHAT_MAX_CHARS = 20
    headers = token_headers(patient.user)
    before = flows.state()
    for body, code in (("", "empty_message"), ("   \n ", "empty_message"), ("长" * 21, "message_too_long")):
        response = client.post(f"/api/visits/{visit.pk}/messages", {"body": body},
                               content_type="application/json", headers=headers)
        assert response.status_code == 400, response.content
        assert error_of(response)["code"] == code
    assert flows.state() == before
    ok = client.post(f"/api/visits/{visit.pk}/messages", {"body": "长" * 20}, content_type="application/json",
                     headers=headers)
    assert ok.status_code == 201


def test_a_png_attachment_becomes_a_chart_document(client, visit, patient, doc, settings):
    headers = token_headers(patient.user)
    response = client.post(
        f"/api/visits/{visit.pk}/attachments",
        {"file": SimpleUploadedFile("bp.png", PNG, content_type="image/png"), "body": "血压计读数"},
        headers=headers,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == MessageKind.IMAGE and body["body"] == "血压计读数"
    assert body["attachment"]["content_type"] == "image/png" and body["attachment"]["name"] == "bp.png"
    document = Document.objects.get(pk=body["attachment"]["id"])
    assert document.patient == patient and document.kind == DocumentKind.IMAGE
    assert document.recorded_by == patient.user and document.size == len(PNG)
    assert Message.objects.get(pk=body["id"]).attachment == document
    # The doctor, caring for the patient through the visit, can send one too.
    reply = chat.post_message(actor=doc.user, visit_id=visit.pk,
                                  file=SimpleUploadedFile("scan.png", PNG, content_type="image/png"))
    assert reply.kind == MessageKind.IMAGE and reply.attachment.patient == patient


def test_html_disguised_as_png_is_refused(client, visit, patient, settings):
    headers = token_headers(patient.user)
    before = flows.state()
    response = client.post(
        f"/api/visits/{visit.pk}/attachments",
        {"file": SimpleUploadedFile("bp.png", HTML, content_type="image/png")},
        headers=headers,
    )
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "unsupported_file_type"
    assert flows.state() == before
    private = Path(settings.PRIVATE_STORAGE_ROOT)
    assert not private.exists() or not [p for p in private.rglob("*") if p.is_file()]


def test_messages_after_an_id_come_in_order(client, visit, patient, doc):
    ids = [
        chat.post_message(actor=actor, visit_id=visit.pk, body=f"第{i}条").pk
        for i, actor in enumerate([patient.user, doc.user, patient.user, doc.user])
    ]
    headers = token_headers(patient.user)
    every = client.get(f"/api/visits/{visit.pk}/messages", headers=headers).json()
    # The system message of the acceptance comes first.
    assert [m["id"] for m in every][-4:] == ids and every[0]["kind"] == "system"
    assert [m["id"] for m in every] == sorted(m["id"] for m in every)

    later = client.get(f"/api/visits/{visit.pk}/messages?after={ids[1]}", headers=headers).json()
    assert [m["id"] for m in later] == ids[2:]
    assert [m["body"] for m in later] == ["第2条", "第3条"]
    assert client.get(f"/api/visits/{visit.pk}/messages?after={ids[-1]}", headers=headers).json() == []


def test_read_receipts_only_move_forward(client, visit, patient, doc):
    ids = [chat.post_message(actor=doc.user, visit_id=visit.pk, body=str(i)).pk for i in range(3)]
    headers = token_headers(patient.user)

    def read(last):
        return client.post(f"/api/visits/{visit.pk}/read", {"last_read_id": last}, content_type="application/json",
                           headers=headers)

    assert read(ids[2]).json() == {"last_read_id": ids[2]}
    assert read(ids[0]).json() == {"last_read_id": ids[2]}  # a late, older receipt does not move it back
    assert ReadMark.objects.get(visit=visit, user=patient.user).last_read_id == ids[2]
    # An id past the newest message reads up to the newest.
    assert read(ids[2] + 1000).json() == {"last_read_id": ids[2]}
    response = read(0)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_message_id"
    assert ReadMark.objects.count() == 1


def test_every_read_and_write_is_audited_with_the_patient(client, visit, patient, doc):
    headers = token_headers(patient.user)
    mark = AuditEvent.objects.count()
    client.get(f"/api/visits/{visit.pk}", headers=headers)
    client.get(f"/api/visits/{visit.pk}/messages", headers=headers)
    posted = client.post(f"/api/visits/{visit.pk}/messages", {"body": "好的"}, content_type="application/json",
                         headers=headers).json()
    services.save_note(actor=doc.user, visit_id=visit.pk, **flows.NOTE)
    client.get(f"/api/visits/{visit.pk}/note", headers=token_headers(doc.user))

    events = list(AuditEvent.objects.filter(seq__gt=mark).exclude(object_type="accounts.apitoken"))
    assert events and all(e.patient_id == patient.pk for e in events if e.object_type.startswith("visits."))
    reads = [e for e in events if e.action == AuditAction.READ and e.object_type == "visits.visit"]
    assert len(reads) >= 4 and all(e.outcome == AuditOutcome.OK for e in reads)
    assert {e.actor for e in reads} == {patient.user, doc.user}
    assert any(
        e.action == AuditAction.CREATE and e.object_type == "visits.message" and e.object_id == str(posted["id"])
        for e in events
    )
    assert any(e.action == AuditAction.UPDATE and e.object_type == "visits.visitnote" for e in events)
