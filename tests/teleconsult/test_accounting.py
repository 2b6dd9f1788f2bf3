"""The monthly statement per partner facility: which consultations it counts (reported in the local month, from
that facility, never cancelled or unreported ones), the totals, the CSV, who may read it, and the audit."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditEvent
from ihospital.teleconsult import accounting
from ihospital.teleconsult.models import ConsultRequest, Mode, Status, Urgency
from tests.factories import HomeFacilityFactory
from tests.teleconsult.factories import (
    AdminFactory,
    ConsultRequestFactory,
    CoordinatorFactory,
    PartnerDoctorFactory,
    PartnerFacilityFactory,
)

pytestmark = pytest.mark.django_db

NOV = date(2026, 11, 1)


def consultation(facility, *, reported_at=None, status=Status.REPORTED, fee_fen=50000, urgency=Urgency.ROUTINE,
                 mode=Mode.ASYNC, department=None):
    doctor = PartnerDoctorFactory(facility=facility).user
    request = ConsultRequestFactory(referring_doctor=doctor, referring_facility=facility, urgency=urgency, mode=mode,
                                    department=department)
    ConsultRequest.objects.filter(pk=request.pk).update(status=status, reported_at=reported_at, fee_fen=fee_fen)
    request.refresh_from_db()
    return request


@pytest.fixture
def partner():
    return PartnerFacilityFactory()


@pytest.fixture
def coordinator():
    return CoordinatorFactory()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_statement_counts_the_reports_signed_in_the_local_month(partner, coordinator):
    # 2026-10-31 16:30 UTC is 2026-11-01 00:30 in Shanghai: November.
    first = consultation(partner, reported_at=utc(2026, 10, 31, 16, 30), fee_fen=50000)
    second = consultation(partner, reported_at=utc(2026, 11, 15, 2, 0), status=Status.ACKNOWLEDGED, fee_fen=120050,
                          urgency=Urgency.URGENT, mode=Mode.LIVE)
    # Not counted: 2026-10-31 15:59 UTC is still October locally; 2026-11-30 16:00 UTC is December 1st locally.
    consultation(partner, reported_at=utc(2026, 10, 31, 15, 59))
    consultation(partner, reported_at=utc(2026, 11, 30, 16, 0))
    # Not counted: not reported yet, cancelled, another facility.
    consultation(partner, reported_at=None, status=Status.IN_REVIEW)
    consultation(partner, reported_at=utc(2026, 11, 10), status=Status.CANCELLED)
    consultation(PartnerFacilityFactory(), reported_at=utc(2026, 11, 10))

    result = accounting.statement(actor=coordinator, facility_id=partner.pk, month=date(2026, 11, 20))

    assert result.month == NOV and result.period == "2026-11" and result.facility == partner
    assert [row.number for row in result.rows] == [first.number, second.number]
    assert (result.count, result.total_fen) == (2, 170050)
    assert result.rows[0].reported_on == date(2026, 11, 1)
    assert (result.rows[1].urgency, result.rows[1].mode, result.rows[1].fee_fen) == ("urgent", "live", 120050)
    assert [(s["urgency"], s["mode"], s["count"], s["total_fen"]) for s in result.subtotals] == [
        ("routine", "async", 1, 50000), ("urgent", "live", 1, 120050)]
    event = AuditEvent.objects.filter(actor=coordinator, action=AuditAction.READ, object_type="directory.facility",
                                      object_id=str(partner.pk)).get()
    assert event.detail == {"statement": "2026-11", "count": 2, "total_fen": 170050}


def test_an_empty_month(partner):
    result = accounting.statement(actor=AdminFactory(), facility_id=partner.pk, month="2026-02")
    assert (result.count, result.total_fen, result.rows, result.subtotals) == (0, 0, [], [])


def test_the_csv_lists_the_consultations_and_the_total_without_patient_names(partner, coordinator):
    request = consultation(partner, reported_at=utc(2026, 11, 3, 8), fee_fen=80005)
    consultation(partner, reported_at=utc(2026, 11, 4, 8), fee_fen=20000)

    text = accounting.statement_csv(actor=coordinator, facility_id=partner.pk, month="2026-11")

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][1] == partner.name and rows[0][3] == "2026-11"
    assert rows[2][0] == request.number and rows[2][1] == "2026-11-03"
    assert rows[2][5:] == ["800.05", "80005"]
    assert rows[-1][5:] == ["1000.05", "100005"]
    assert len(rows) == 5
    assert request.patient.real_name not in text and request.patient.mrn not in text
    assert AuditEvent.objects.filter(actor=coordinator, action=AuditAction.EXPORT,
                                     object_id=str(partner.pk), detail__format="csv").exists()


def test_only_coordinators_and_admins_read_statements(partner):
    request = consultation(partner, reported_at=utc(2026, 11, 3, 8))
    for user in (request.referring_doctor, request.patient.user):
        with pytest.raises(Forbidden) as caught:
            accounting.statement(actor=user, facility_id=partner.pk, month=NOV)
        assert caught.value.code == "not_statement_reader"
        with pytest.raises(Forbidden):
            accounting.statement_csv(actor=user, facility_id=partner.pk, month=NOV)
    assert not AuditEvent.objects.filter(object_type="directory.facility").exists()


def test_bad_input_is_refused_clearly(partner, coordinator):
    with pytest.raises(NotFound):
        accounting.statement(actor=coordinator, facility_id=999999, month=NOV)
    with pytest.raises(NotFound):
        accounting.statement(actor=coordinator, facility_id="abc", month=NOV)
    with pytest.raises(DomainError) as caught:
        accounting.statement(actor=coordinator, facility_id=HomeFacilityFactory().pk, month=NOV)
    assert caught.value.code == "not_partner_facility"
    for month in ("2026-13", "November", "", None, "1999-01"):
        with pytest.raises(DomainError) as caught:
            accounting.statement(actor=coordinator, facility_id=partner.pk, month=month)
        assert caught.value.code == "invalid_month", month


def test_months_and_money_helpers():
    assert accounting.month_of("2026-1") == date(2026, 1, 1)
    assert accounting.month_of(date(2026, 12, 31)) == date(2026, 12, 1)
    start, end = accounting.month_bounds(date(2026, 12, 1))
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
    assert [accounting.yuan(f) for f in (0, 5, 100, 123456)] == ["0.00", "0.05", "1.00", "1234.56"]


def test_partner_facilities_exclude_the_home_hospital(partner):
    home = HomeFacilityFactory()
    facilities = list(accounting.partner_facilities())
    assert partner in facilities and home not in facilities
