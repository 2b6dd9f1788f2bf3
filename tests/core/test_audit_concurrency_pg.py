"""Many writers at once keep the audit chain linear (PostgreSQL only; skipped on SQLite by the conftest hook)."""

from __future__ import annotations

import pytest

from ihospital.core import audit
from ihospital.core.audit import verify_chain
from ihospital.core.models import AuditAction, AuditEvent, AuditHead
from tests.helpers import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 50


def test_concurrent_writers_keep_the_chain_intact():
    for i in range(3):
        audit.record(actor=None, action=AuditAction.READ, object_type="test.seed", object_id=i)
    assert verify_chain().checked == 3

    def write(i):
        return audit.record(
            actor=None, action=AuditAction.READ, object_type="test.concurrent", object_id=i + 1, detail={"thread": i}
        ).seq

    results = run_in_threads(WRITERS, write)
    assert all(kind == "ok" for kind, _ in results), results
    seqs = sorted(seq for _, seq in results)
    assert seqs == list(range(4, 4 + WRITERS))
    report = verify_chain()
    assert report.ok, report
    assert report.checked == 3 + WRITERS
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 4 + WRITERS))
    assert AuditHead.objects.get().seq == 3 + WRITERS
    assert sorted(
        int(i) for i in AuditEvent.objects.filter(object_type="test.concurrent").values_list("object_id", flat=True)
    ) == list(range(1, WRITERS + 1))


def test_concurrent_writers_on_an_empty_log():
    # The very first writers race to create the chain's head row.
    results = run_in_threads(20, lambda i: audit.record(actor=None, action=AuditAction.READ, object_type="t").seq)
    assert sorted(seq for kind, seq in results) == list(range(1, 21)), results
    assert verify_chain().ok
