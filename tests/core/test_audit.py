"""The audit log: every chart read and write is appended, the hash chain detects tampering, rows never change."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from ihospital.core import audit, context
from ihospital.core.audit import GENESIS, verify_chain
from ihospital.core.models import AuditAction, AuditEvent, AuditHead, AuditOutcome
from tests.helpers import token_headers

pytestmark = pytest.mark.django_db


def write_rows(n: int) -> list[AuditEvent]:
    return [
        audit.record(actor=None, action=AuditAction.READ, object_type="test.thing", object_id=i,
                     detail={"n": i, "名字": "测试"})
        for i in range(n)
    ]


# ---- every read and write of health data ----------------------------------------------------------------


def test_chart_read_is_audited_with_the_request_id(client, patient):
    headers = token_headers(patient.user)
    before = AuditEvent.objects.count()
    response = client.get(f"/api/patients/{patient.pk}/chart", headers={**headers, "x-request-id": "req-0123456789"})
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-0123456789"
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.outcome) == (AuditAction.READ, AuditOutcome.OK)
    assert event.actor == patient.user and event.actor_label == patient.user.username
    assert event.patient_id == patient.pk
    assert event.request_id == "req-0123456789"
    assert event.ip == "127.0.0.1"
    assert event.detail == {"view": "chart", "access": "self"}


def test_chart_write_is_audited_with_the_generated_request_id(client, patient):
    headers = token_headers(patient.user)
    response = client.post(
        f"/api/patients/{patient.pk}/allergies", {"substance": "青霉素"}, content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 201
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    event = AuditEvent.objects.get(request_id=request_id)
    assert (event.action, event.object_type, event.object_id) == (
        AuditAction.CREATE, "records.allergy", str(response.json()["id"])
    )
    assert event.patient_id == patient.pk and event.actor == patient.user


def test_malformed_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"x-request-id": "bad id; drop table"})
    assert response["X-Request-ID"] != "bad id; drop table"
    assert len(response["X-Request-ID"]) == 32
    response = client.get("/healthz", headers={"x-request-id": "short"})
    assert response["X-Request-ID"] != "short"


def test_outside_a_request_rows_get_a_job_id():
    event = write_rows(1)[0]
    assert event.request_id.startswith("job-")
    assert event.actor is None and event.actor_label == "anonymous"


def test_request_context_is_restored(client):
    token = context.activate(context.RequestContext(request_id="outer-request-1"))
    try:
        client.get("/healthz")
        assert context.current().request_id == "outer-request-1"
    finally:
        context.reset(token)


# ---- the hash chain ----------------------------------------------------------------------------------------


def test_clean_chain_verifies():
    rows = write_rows(5)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    report = verify_chain()
    assert report.ok and report.checked == 5
    head = AuditHead.objects.get()
    assert (head.seq, head.last_hash) == (5, rows[-1].hash)


def test_empty_chain_verifies():
    report = verify_chain()
    assert report.ok and report.checked == 0


def test_verify_reads_in_batches():
    write_rows(7)
    assert verify_chain(batch_size=2).checked == 7


def test_editing_a_row_behind_the_apps_back_is_detected_at_that_row():
    write_rows(5)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET action='delete' WHERE seq=3")
    report = verify_chain()
    assert not report.ok
    assert report.broken_seq == 3 and report.checked == 2
    assert "content" in report.reason


def test_editing_the_json_detail_is_detected():
    write_rows(4)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET detail=%s WHERE seq=2", ['{"n": 99, "名字": "测试"}'])
    assert verify_chain().broken_seq == 2


def test_rehashing_an_edited_row_breaks_the_next_link():
    # A forger who edits row 3 and recomputes its hash still breaks row 4's link.
    write_rows(5)
    row = AuditEvent.objects.get(seq=3)
    row.action = AuditAction.DELETE
    new_hash = row.compute_hash()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET action='delete', hash=%s WHERE seq=3", [new_hash])
    report = verify_chain()
    assert report.broken_seq == 4
    assert "link" in report.reason


def test_deleting_a_row_is_detected():
    write_rows(5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq=3")
    report = verify_chain()
    assert not report.ok
    assert report.broken_seq == 4 and "missing" in report.reason


def test_deleting_the_last_rows_is_detected():
    write_rows(5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq >= 4")
    report = verify_chain()
    assert not report.ok
    assert report.broken_seq == 4 and report.checked == 3


def test_inserting_a_forged_row_is_detected():
    rows = write_rows(3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET seq = seq + 1 WHERE seq = 3")
    forged = AuditEvent(
        seq=3, at=rows[2].at, action=AuditAction.READ, object_type="test.thing", object_id="x",
        prev_hash=rows[1].hash, detail={},
    )
    forged.hash = forged.compute_hash()
    forged.save()
    assert verify_chain().broken_seq == 4


# ---- append-only -------------------------------------------------------------------------------------------


def test_rows_cannot_be_updated_or_deleted_through_the_orm():
    rows = write_rows(3)
    with pytest.raises(TypeError):
        AuditEvent.objects.update(action=AuditAction.DELETE)
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(seq=2).update(outcome=AuditOutcome.DENIED)
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(seq=2).delete()
    row = rows[1]
    row.action = AuditAction.DELETE
    with pytest.raises(TypeError):
        row.save()
    with pytest.raises(TypeError):
        row.delete()
    # bulk_update runs inside its own savepoint-less atomic block: give it a savepoint to fail in.
    with pytest.raises(TypeError), transaction.atomic():
        AuditEvent.objects.bulk_update([row], ["action"])
    assert AuditEvent.objects.count() == 3
    assert AuditEvent.objects.get(seq=2).action == AuditAction.READ
    assert verify_chain().ok


# ---- the command -------------------------------------------------------------------------------------------


def test_audit_verify_command_succeeds_on_a_clean_chain(capsys):
    write_rows(4)
    call_command("audit", "verify")
    assert "4 rows verified" in capsys.readouterr().out


def test_audit_verify_command_fails_naming_the_broken_row():
    write_rows(5)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET action='delete' WHERE seq=3")
    with pytest.raises(CommandError) as exc:
        call_command("audit", "verify")
    assert "seq 3" in str(exc.value)
    assert "2 rows before it OK" in str(exc.value)
