"""Booking a home visit through the services: every eligibility refusal with its stable code (and the case that
passes beside it), the day and the window, the address on the map, the consent, duplicates, documents and who may
book for whom, and cancelling. A refusal changes nothing: no request, no consent, no timeline event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from ihospital.accounts.models import Consent, ConsentKind
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import TimelineEvent
from ihospital.homecare import assessing, booking, visiting
from ihospital.homecare.models import NursingRequest, NursingService, RequestStatus
from ihospital.records import services as records
from tests.factories import PatientFactory
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def document(patient, kind: str, *, actor=None):
    return records.upload_document(actor=actor or patient.user, patient_id=patient.pk, kind=kind, title="",
                                   file=SimpleUploadedFile("scan.pdf", PDF, content_type="application/pdf"))


def state() -> tuple[int, int, int]:
    return (NursingRequest.objects.count(), Consent.objects.filter(kind=ConsentKind.HOME_NURSING).count(),
            TimelineEvent.objects.count())


def refused(expected: str, patient, *, error=DomainError, **kw) -> DomainError:
    """Book with ``kw`` and expect the refusal ``expected``; nothing may have changed."""
    before = state()
    with pytest.raises(error) as caught:
        f.booked(patient, **kw)
    assert caught.value.code == expected, caught.value.message
    assert str(caught.value.message)
    assert state() == before
    return caught.value


# ---- eligibility ------------------------------------------------------------------------------------------------


def test_a_blocked_patient_is_refused_without_the_reason(elder, admin_user):
    assessing.block(actor=admin_user, patient_id=elder.pk, reason="家属对护士动手")
    exc = refused("patient_blocked", elder, error=Forbidden)
    assert exc.status == 403 and "动手" not in str(exc.message)


def test_a_service_is_only_for_its_groups(elder):
    refused("service_not_for_group", elder, code="wound_dressing", group="mother_newborn")
    refused("service_not_for_group", elder, code="newborn_care", group="elderly")


def test_an_unknown_group_and_a_retired_service_are_refused(elder):
    refused("invalid_group", elder, group="vip")
    refused("invalid_group", elder, group="")
    NursingService.objects.filter(code="wound_dressing").update(active=False)
    refused("service_unavailable", elder)


def test_an_unknown_service_is_not_found(elder):
    refused("service_not_found", elder, code="massage", error=NotFound)


def test_home_nursing_needs_a_record_at_this_hospital(db):
    f.load_catalogue()
    stranger = PatientFactory(birth_date=timezone.localdate().replace(year=timezone.localdate().year - 75))
    exc = refused("no_hospital_record", stranger, error=Forbidden)
    assert exc.link  # where to go instead: an in-person appointment


def test_the_elderly_group_starts_at_the_configured_age(db, settings):
    f.load_catalogue()
    refused("not_elderly", f.eligible_patient(age=45))
    settings.HOMECARE_ELDERLY_AGE = 40
    assert f.booked(f.eligible_patient(age=45)).group == "elderly"


def test_recently_discharged_from_this_hospital_or_with_a_discharge_summary(db):
    f.load_catalogue()
    never = f.eligible_patient(age=45)
    refused("not_recently_discharged", never, group="convalescent")
    long_ago = f.eligible_patient(age=45)
    f.discharged(long_ago, days_ago=60)
    refused("not_recently_discharged", long_ago, group="convalescent")
    # Discharged from an inpatient stay here five days ago.
    recent = f.eligible_patient(age=45)
    f.discharged(recent, days_ago=5)
    assert f.booked(recent, group="convalescent").status == RequestStatus.REQUESTED
    # Discharged elsewhere: the discharge summary is attached (the assessor checks it).
    summary = document(never, "discharge_summary")
    req = f.booked(never, group="convalescent", document_ids=[summary.pk])
    assert list(req.documents.all()) == [summary]
    # A lab report is no discharge summary.
    lab = document(long_ago, "lab_report")
    refused("not_recently_discharged", long_ago, group="convalescent", document_ids=[lab.pk])


@pytest.mark.parametrize("group", ["disabled", "terminal"])
def test_what_the_chart_cannot_show_needs_a_document(group):
    f.load_catalogue()
    patient = f.eligible_patient(age=50)
    exc = refused("evidence_required", patient, group=group)
    assert "documents" in exc.fields
    refused("evidence_required", patient, group=group, document_ids=[document(patient, "image").pk])
    certificate = document(patient, "diagnosis_certificate")
    assert f.booked(patient, group=group, document_ids=[certificate.pk]).group == group


def test_mother_and_newborn_care_is_for_babies_under_one_and_mothers_with_the_delivery_summary(db):
    f.load_catalogue()
    mother = f.eligible_patient(age=29, sex="F")
    refused("not_mother_or_newborn", mother, code="postpartum_care", group="mother_newborn")
    summary = document(mother, "discharge_summary")
    assert f.booked(mother, code="postpartum_care", group="mother_newborn", document_ids=[summary.pk])
    baby = f.eligible_patient(age=0)  # born a month ago
    assert f.booked(baby, code="newborn_care", group="mother_newborn").group == "mother_newborn"
    father = f.eligible_patient(age=31, sex="M")
    refused("not_mother_or_newborn", father, code="newborn_care", group="mother_newborn",
            document_ids=[document(father, "discharge_summary").pk])


# ---- when ---------------------------------------------------------------------------------------------------------


def test_the_day_is_from_tomorrow_to_the_booking_horizon(elder, settings):
    today = timezone.localdate()
    for day in (today, today - timedelta(days=3), today + timedelta(days=settings.HOMECARE_BOOKING_DAYS + 1)):
        refused("date_out_of_range", elder, day=day)
    refused("invalid_date", elder, day="next tuesday")
    last = today + timedelta(days=settings.HOMECARE_BOOKING_DAYS)
    assert f.booked(elder, day=last).preferred_date == last


def test_the_window_is_in_day_hours_long_enough_and_the_service_fits_before_closing(elder):
    refused("invalid_window", elder, window=("9 o'clock", "12:00"))
    refused("invalid_window", elder, window=("12:00", "09:00"))
    refused("invalid_window", elder, window=("06:00", "09:00"))  # before the nurses' day
    refused("invalid_window", elder, window=("18:00", "21:00"))  # after it
    refused("window_too_short", elder, window=("09:00", "09:30"))
    # A 90-minute infusion starting at 19:00 would end after 20:00.
    refused("invalid_window", elder, code="infusion", window=("19:00", "20:00"))
    assert f.booked(elder, window=("19:00", "20:00")).window_start.hour == 19


# ---- where --------------------------------------------------------------------------------------------------------


def test_the_address_must_be_found_precisely_enough_to_send_a_nurse(elder):
    refused("address_not_found", elder, address="幸福路 99 号")  # no such street in the address book
    refused("address_not_found", elder, address="太原市小店区")  # a district is not a place to go to
    refused("address_required", elder, address="  ")
    req = f.booked(elder)
    assert (req.latitude, req.longitude) == f.ADDRESS_LATLNG and req.geocoded_as == "迎泽区双塔寺社区"


def test_a_pin_is_used_as_given_inside_the_service_area_only(elder):
    exc = refused("outside_service_area", elder, latitude=38.757, longitude=112.559)  # 100 km north
    assert "100" in str(exc.message)
    refused("invalid_coordinates", elder, latitude=123.0, longitude=112.5)
    refused("invalid_coordinates", elder, latitude="north", longitude="east")
    req = f.booked(elder, address="幸福路 99 号", latitude=37.86, longitude=112.56)
    assert (req.latitude, req.longitude) == (37.86, 112.56)


# ---- consent, duplicates, documents, who -------------------------------------------------------------------------


def test_the_informed_consent_is_required_and_recorded(elder):
    before = state()
    with pytest.raises(DomainError) as caught:
        booking.request_visit(
            actor=elder.user, patient_id=elder.pk, service_code="wound_dressing", group="elderly", address=f.ADDRESS,
            preferred_date=f.tomorrow(), window_start="09:00", window_end="12:00", contact_name="",
            contact_phone=elder.user.phone, consent=False)
    assert caught.value.code == "consent_required" and state() == before
    req = f.booked(elder)
    consent = Consent.objects.get(kind=ConsentKind.HOME_NURSING, subject=f"homecare:{req.pk}")
    assert consent.given_by == elder.user and req.consent_version == consent.version


def test_one_open_request_of_a_service_per_day(elder):
    f.booked(elder)
    exc = refused("duplicate_request", elder, error=Conflict)
    assert exc.status == 409
    # Another service the same day, or the same service another day, is fine.
    assert f.booked(elder, code="blood_draw")
    assert f.booked(elder, day=f.tomorrow() + timedelta(days=1))


def test_someone_elses_document_is_not_found(elder):
    stranger = f.eligible_patient(age=66)
    theirs = document(stranger, "discharge_summary")
    refused("document_not_found", elder, error=NotFound, group="convalescent", document_ids=[theirs.pk])
    refused("document_not_found", elder, error=NotFound, document_ids=[987654])


def test_a_relative_books_for_the_patient_but_not_for_a_stranger(elder, relative):
    req = f.booked(elder, actor=relative)
    assert (req.patient, req.requested_by) == (elder, relative)
    assert Consent.objects.get(subject=f"homecare:{req.pk}").given_by == relative
    stranger = f.eligible_patient(age=80)
    before = state()
    with pytest.raises(NotFound):
        f.booked(stranger, actor=relative)
    assert state() == before


def test_a_relative_cancels_and_it_is_too_late_once_the_nurse_set_out(elder, relative, nurse):
    req = f.booked(elder, actor=relative)
    cancelled = booking.cancel(actor=relative, request_id=req.pk, reason="已住院")
    assert (cancelled.status, cancelled.status_reason) == (RequestStatus.CANCELLED, "已住院")
    with pytest.raises(Conflict):  # cancelled already: no second cancellation
        booking.cancel(actor=relative, request_id=req.pk, reason="")

    visit = f.today_visit(elder, nurse)
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    before = state()
    with pytest.raises(Conflict) as caught:
        booking.cancel(actor=relative, request_id=visit.request_id, reason="不需要了")
    assert caught.value.code == "too_late_to_cancel" and state() == before
    assert NursingRequest.objects.get(pk=visit.request_id).status == RequestStatus.EN_ROUTE


def test_a_stranger_cannot_cancel(elder):
    req = f.booked(elder)
    stranger = f.eligible_patient(age=66)
    with pytest.raises(NotFound):
        booking.cancel(actor=stranger.user, request_id=req.pk, reason="")
    assert NursingRequest.objects.get(pk=req.pk).status == RequestStatus.REQUESTED
