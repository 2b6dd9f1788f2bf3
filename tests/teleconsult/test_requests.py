"""The referring doctor's side: drafting, attaching from the chart, the patient's consent, sending, cancelling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.accounts.models import ConsentKind
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditEvent, TimelineEvent
from ihospital.diagnostics.models import DiagnosticKind, ImagingStudy, OrderStatus
from ihospital.notifications.models import Notification
from ihospital.records.models import Document
from ihospital.teleconsult import requests
from ihospital.teleconsult.models import Attachment, ConsultRequest, Mode, Status, Urgency
from tests.diagnostics.factories import DiagnosticOrderFactory, DiagnosticTestFactory
from tests.factories import DepartmentFactory, FacilityFactory, PatientFactory, PractitionerFactory
from tests.teleconsult.factories import (
    CoordinatorFactory,
    ExpertFactory,
    PartnerDoctorFactory,
    TariffFactory,
    consented,
    draft_request,
    put_in_care,
    submitted_request,
    tariffs_for,
)
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db


def _create(referrer, patient, **kw):
    args = dict(actor=referrer, patient_id=patient.pk, question="是否需要PCI？", summary="胸闷3月", urgency="urgent",
                mode="async")
    args.update(kw)
    return requests.create_request(**args)


def _document(patient, by):
    return Document.objects.create(patient=patient, recorded_by=by, kind="outpatient_record", title="门诊病历",
                                   original_name="a.pdf", storage_name=f"x-{patient.pk}-{Document.objects.count()}",
                                   content_type="application/pdf", size=10, sha256="0" * 64)


def _order(patient, *, kind=DiagnosticKind.LAB, status=OrderStatus.RELEASED):
    enc = EncounterFactory(patient=patient, partner=True)
    return DiagnosticOrderFactory(patient=patient, doctor=enc.practitioner, encounter=enc, status=status,
                                  test=DiagnosticTestFactory(kind=kind, modality="" if kind == "lab" else "CT"))


# ---- creating -----------------------------------------------------------------------------------------------------


def test_a_partner_doctor_drafts_a_request_for_a_patient_in_care(referrer, patient, cardiology):
    req = _create(referrer, patient, department_id=cardiology.pk)
    assert req.status == Status.DRAFT
    assert req.number.startswith(f"TC{timezone.localdate():%Y%m%d}-")
    assert req.number.endswith("-0001")
    assert req.referring_facility == referrer.practitioner.facility
    assert req.department == cardiology and req.urgency == Urgency.URGENT
    again = _create(referrer, patient, department_id=cardiology.pk)
    assert again.number.endswith("-0002")
    assert AuditEvent.objects.filter(object_type="teleconsult.consultrequest", object_id=str(req.pk),
                                     action="create").exists()
    # The patient is asked for consent.
    assert Notification.objects.filter(user=patient.user, kind="teleconsult.consent").exists()


def test_a_named_expert_is_enough(referrer, patient, expert):
    req = _create(referrer, patient, named_expert_id=expert.pk)
    assert req.named_expert == expert and req.department is None


@pytest.mark.parametrize("who", ["home_doctor", "unverified", "coordinator", "patient"])
def test_only_verified_partner_doctors_ask(who, patient, cardiology):
    if who == "home_doctor":
        user = PractitionerFactory().user
    elif who == "unverified":
        user = PartnerDoctorFactory(verified_at=None).user
    elif who == "coordinator":
        user = CoordinatorFactory()
    else:
        user = patient.user
    if hasattr(user, "practitioner"):
        put_in_care(user, patient)
    with pytest.raises(Forbidden) as e:
        _create(user, patient)
    assert e.value.code == "not_partner_doctor"
    assert not ConsultRequest.objects.exists()


def test_the_patient_must_be_in_the_doctors_care(referrer, patient):
    stranger = PatientFactory()
    with pytest.raises(NotFound) as e:
        _create(referrer, stranger)
    assert e.value.code == "patient_not_in_care"
    with pytest.raises(NotFound):
        _create(referrer, patient, patient_id=999999)
    assert not ConsultRequest.objects.exists()


@pytest.mark.parametrize("change, code", [
    ({"question": "  "}, "question_required"),
    ({"summary": ""}, "summary_required"),
    ({"urgency": "whenever"}, "invalid_urgency"),
    ({"mode": "fax"}, "invalid_mode"),
    ({"department_id": "x"}, "invalid_department"),
    ({"named_expert_id": 999999}, "invalid_expert"),
])
def test_bad_input_is_refused_with_a_clear_code(referrer, patient, change, code):
    with pytest.raises(DomainError) as e:
        _create(referrer, patient, **change)
    assert e.value.code == code and str(e.value.message)
    assert not ConsultRequest.objects.exists()


def test_the_department_must_be_the_expert_hospitals_and_the_expert_an_expert(referrer, patient, cardiology):
    partner_dept = DepartmentFactory(facility=FacilityFactory())
    with pytest.raises(DomainError) as e:
        _create(referrer, patient, department_id=partner_dept.pk)
    assert e.value.code == "invalid_department"
    attending = PractitionerFactory(departments=[cardiology]).user  # home doctor, but only attending
    with pytest.raises(DomainError) as e:
        _create(referrer, patient, named_expert_id=attending.pk)
    assert e.value.code == "invalid_expert"
    with pytest.raises(DomainError) as e:
        _create(referrer, patient, named_expert_id=referrer.pk)
    assert e.value.code == "invalid_expert"


# ---- editing -----------------------------------------------------------------------------------------------------


def test_the_referrer_edits_a_draft(referrer, patient, cardiology, expert):
    req = _create(referrer, patient, department_id=cardiology.pk)
    requests.update_request(actor=referrer, request_id=req.pk, question="新问题", named_expert_id=expert.pk,
                            mode=Mode.LIVE)
    req.refresh_from_db()
    assert (req.question, req.named_expert, req.mode, req.department) == ("新问题", expert, Mode.LIVE, cardiology)
    requests.update_request(actor=referrer, request_id=req.pk, department_id=None)
    req.refresh_from_db()
    assert req.department is None
    with pytest.raises(DomainError) as e:
        requests.update_request(actor=referrer, request_id=req.pk, summary=" ")
    assert e.value.code == "summary_required"


def test_others_cannot_edit_and_sent_requests_are_not_editable(referrer, patient, coordinator):
    req = submitted_request(patient=patient, referrer=referrer)
    with pytest.raises(Conflict) as e:
        requests.update_request(actor=referrer, request_id=req.pk, question="x")
    assert e.value.code == "not_editable"
    other = PartnerDoctorFactory(patients=[patient]).user
    for user in (other, coordinator, patient.user):
        with pytest.raises(NotFound):
            requests.update_request(actor=user, request_id=req.pk, question="x")
    assert ConsultRequest.objects.get(pk=req.pk).question == req.question


# ---- attachments -------------------------------------------------------------------------------------------------


def test_attach_chart_items_of_the_patient(referrer, patient):
    req = draft_request(patient=patient, referrer=referrer)
    doc = _document(patient, referrer)
    lab = _order(patient)
    imaging = _order(patient, kind=DiagnosticKind.IMAGING, status=OrderStatus.RESULTED)
    study = ImagingStudy.objects.create(order=imaging, study_uid="1.2.3.4", modality="CT")
    a1 = requests.attach(actor=referrer, request_id=req.pk, kind="document", target_id=doc.pk, note="最近一次")
    a2 = requests.attach(actor=referrer, request_id=req.pk, kind="lab", target_id=lab.pk)
    a3 = requests.attach(actor=referrer, request_id=req.pk, kind="imaging", target_id=study.pk)
    assert (a1.document, a2.order, a3.study) == (doc, lab, study)
    assert a1.note == "最近一次"
    with pytest.raises(Conflict) as e:
        requests.attach(actor=referrer, request_id=req.pk, kind="document", target_id=doc.pk)
    assert e.value.code == "already_attached"
    requests.remove_attachment(actor=referrer, attachment_id=a1.pk)
    a1.refresh_from_db()
    assert a1.removed_at is not None
    # Removed items can be attached again; the removed row stays.
    requests.attach(actor=referrer, request_id=req.pk, kind="document", target_id=doc.pk)
    assert Attachment.objects.filter(request=req).count() == 4


def test_attachments_must_be_the_patients_and_fit_their_kind(referrer, patient):
    req = draft_request(patient=patient, referrer=referrer)
    other = PatientFactory()
    put_in_care(referrer, other)
    cases = [
        ("document", _document(other, referrer).pk),          # another patient's document
        ("lab", _order(patient, status=OrderStatus.BOOKED).pk),  # no result yet
        ("lab", _order(patient, kind=DiagnosticKind.IMAGING).pk),  # imaging orders go as studies
        ("imaging", 999999),
        ("prescription", 1),
        ("document", "abc"),
    ]
    for kind, target in cases:
        with pytest.raises(DomainError) as e:
            requests.attach(actor=referrer, request_id=req.pk, kind=kind, target_id=target)
        assert e.value.code == "invalid_attachment", (kind, target)
    doc = _document(patient, referrer)
    erroneous = _document(patient, referrer)
    Document.objects.filter(pk=erroneous.pk).update(entered_in_error=True)
    with pytest.raises(DomainError):
        requests.attach(actor=referrer, request_id=req.pk, kind="document", target_id=erroneous.pk)
    assert not Attachment.objects.exists()
    # Only the referrer, and only while editable.
    with pytest.raises(NotFound):
        requests.attach(actor=PartnerDoctorFactory(patients=[patient]).user, request_id=req.pk, kind="document",
                        target_id=doc.pk)
    consented(req)
    tariffs_for(req.referring_facility)
    a = requests.attach(actor=referrer, request_id=req.pk, kind="document", target_id=doc.pk)
    requests.submit(actor=referrer, request_id=req.pk)
    with pytest.raises(Conflict) as e:
        requests.attach(actor=referrer, request_id=req.pk, kind="lab", target_id=_order(patient).pk)
    assert e.value.code == "not_editable"
    with pytest.raises(Conflict):
        requests.remove_attachment(actor=referrer, attachment_id=a.pk)


def test_upload_attachment_stores_a_chart_document(referrer, patient):
    req = draft_request(patient=patient, referrer=referrer)
    pdf = SimpleUploadedFile("ecg.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
                             content_type="application/pdf")
    a = requests.upload_attachment(actor=referrer, request_id=req.pk, file=pdf, title="心电图", doc_kind="other")
    assert a.kind == "document" and a.document.patient == patient and a.document.title == "心电图"
    with pytest.raises(DomainError):
        requests.upload_attachment(actor=referrer, request_id=req.pk, file=pdf, title="x", doc_kind="nonsense")


# ---- consent and sending ----------------------------------------------------------------------------------------


def test_consent_is_required_before_sending(referrer, patient):
    req = draft_request(patient=patient, referrer=referrer)
    tariffs_for(req.referring_facility)
    with pytest.raises(DomainError) as e:
        requests.submit(actor=referrer, request_id=req.pk)
    assert e.value.code == "consent_required"
    req.refresh_from_db()
    assert req.status == Status.DRAFT and req.submitted_at is None
    consent = requests.give_consent(actor=patient.user, request_id=req.pk)
    assert consent.kind == ConsentKind.RECORD_SHARING and consent.subject == f"consult:{req.pk}"
    assert consent.given_by == patient.user
    requests.submit(actor=referrer, request_id=req.pk)
    req.refresh_from_db()
    assert req.status == Status.SUBMITTED and req.consent == consent


def test_a_withdrawn_consent_blocks_sending(referrer, patient):
    from ihospital.accounts import services as accounts

    req = consented(draft_request(patient=patient, referrer=referrer))
    tariffs_for(req.referring_facility)
    accounts.withdraw_consent(actor=patient.user, consent_id=req.consent_id)
    with pytest.raises(DomainError) as e:
        requests.submit(actor=referrer, request_id=req.pk)
    assert e.value.code == "consent_required"
    # It can be given again.
    requests.give_consent(actor=patient.user, request_id=req.pk)
    requests.submit(actor=referrer, request_id=req.pk)


def test_a_proxy_consents_but_nobody_else(referrer, patient, relative, coordinator):
    req = draft_request(patient=patient, referrer=referrer)
    for user in (referrer, coordinator, PatientFactory().user):
        with pytest.raises(NotFound):
            requests.give_consent(actor=user, request_id=req.pk)
    consent = requests.give_consent(actor=relative, request_id=req.pk)
    assert consent.given_by == relative and consent.patient == patient
    with pytest.raises(Conflict) as e:
        requests.give_consent(actor=patient.user, request_id=req.pk)
    assert e.value.code == "consent_already_given"


def test_submit_copies_the_tariff_and_starts_the_clock(referrer, patient, settings,
                                                       django_capture_on_commit_callbacks):
    settings.TELECONSULT_TARGETS = {**settings.TELECONSULT_TARGETS,
                                    "urgent": {"first_response": 240, "report": 1440}}
    coordinators = [CoordinatorFactory(), CoordinatorFactory()]
    req = consented(draft_request(patient=patient, referrer=referrer, urgency="urgent"))
    facility = req.referring_facility
    TariffFactory(facility=facility, urgency="urgent", mode="async", fee_fen=80000,
                  valid_from=timezone.localdate() - timedelta(days=100))
    newest = TariffFactory(facility=facility, urgency="urgent", mode="async", fee_fen=90000,
                           valid_from=timezone.localdate() - timedelta(days=1))
    TariffFactory(facility=facility, urgency="urgent", mode="async", fee_fen=99999,
                  valid_from=timezone.localdate() + timedelta(days=1))  # not yet in force
    TariffFactory(facility=facility, urgency="urgent", mode="live", fee_fen=120000)
    with django_capture_on_commit_callbacks(execute=True):
        requests.submit(actor=referrer, request_id=req.pk)
    req.refresh_from_db()
    assert req.status == Status.SUBMITTED
    assert req.tariff == newest and req.fee_fen == 90000
    assert req.first_response_due - req.submitted_at == timedelta(minutes=240)
    assert req.report_due - req.submitted_at == timedelta(minutes=1440)
    assert abs((req.submitted_at - timezone.now()).total_seconds()) < 60
    runs = sorted(DBTaskResult.objects.filter(task_path="ihospital.teleconsult.tasks.escalate_request")
                  .values_list("run_after", flat=True))
    assert runs == [req.first_response_due, req.first_response_due + timedelta(minutes=120), req.report_due,
                    req.report_due + timedelta(minutes=720)]
    for c in coordinators:
        assert Notification.objects.filter(user=c, kind__startswith="teleconsult.submitted").exists()
    assert TimelineEvent.objects.filter(object_id=str(req.pk), to_status=Status.SUBMITTED).count() == 1
    # A later tariff change never alters the sent request's fee.
    newest.fee_fen = 1
    newest.save()
    req.refresh_from_db()
    assert req.fee_fen == 90000


def test_no_tariff_no_sending(referrer, patient):
    req = consented(draft_request(patient=patient, referrer=referrer, urgency="emergency", mode="live"))
    TariffFactory(facility=req.referring_facility, urgency="emergency", mode="async")
    TariffFactory(urgency="emergency", mode="live")  # another facility's
    with pytest.raises(DomainError) as e:
        requests.submit(actor=referrer, request_id=req.pk)
    assert e.value.code == "no_tariff"
    assert ConsultRequest.objects.get(pk=req.pk).status == Status.DRAFT


def test_only_the_referrer_sends_and_only_once(referrer, patient, coordinator):
    req = consented(draft_request(patient=patient, referrer=referrer))
    tariffs_for(req.referring_facility)
    for user in (patient.user, coordinator, PartnerDoctorFactory(patients=[patient]).user):
        with pytest.raises(NotFound):
            requests.submit(actor=user, request_id=req.pk)
    requests.submit(actor=referrer, request_id=req.pk)
    with pytest.raises(Conflict) as e:
        requests.submit(actor=referrer, request_id=req.pk)
    assert e.value.code == "not_editable"


def test_a_returned_request_is_edited_and_sent_again_with_a_new_clock(referrer, patient, coordinator):
    from ihospital.teleconsult import triage

    req = submitted_request(patient=patient, referrer=referrer)
    first_sent = req.submitted_at
    triage.return_request(actor=coordinator, request_id=req.pk, reason="请补充心脏彩超")
    requests.update_request(actor=referrer, request_id=req.pk, summary="补充：EF 45%")
    ConsultRequest.objects.filter(pk=req.pk).update(submitted_at=first_sent - timedelta(hours=1))
    requests.submit(actor=referrer, request_id=req.pk)
    req.refresh_from_db()
    assert req.status == Status.SUBMITTED and req.summary == "补充：EF 45%"
    assert req.submitted_at > first_sent - timedelta(hours=1)
    assert req.return_reason == "请补充心脏彩超"


def test_cancel_needs_a_reason_and_ends_before_the_report(referrer, patient, coordinator):
    req = submitted_request(patient=patient, referrer=referrer)
    with pytest.raises(DomainError) as e:
        requests.cancel(actor=referrer, request_id=req.pk, reason=" ")
    assert e.value.code == "reason_required"
    with pytest.raises(NotFound):
        requests.cancel(actor=coordinator, request_id=req.pk, reason="x")
    requests.cancel(actor=referrer, request_id=req.pk, reason="患者转院")
    req.refresh_from_db()
    assert req.status == Status.CANCELLED
    assert Notification.objects.filter(user=coordinator, kind="teleconsult.cancelled").exists()
    with pytest.raises(Conflict):
        requests.cancel(actor=referrer, request_id=req.pk, reason="again")


def test_a_draft_can_be_cancelled(referrer, patient):
    req = draft_request(patient=patient, referrer=referrer)
    requests.cancel(actor=referrer, request_id=req.pk, reason="不需要了")
    assert ConsultRequest.objects.get(pk=req.pk).status == Status.CANCELLED


def test_expert_factory_is_an_expert(cardiology):
    from ihospital.teleconsult.triage import is_expert

    assert is_expert(ExpertFactory(departments=[cardiology]).user)


def test_cancelling_cancels_the_scheduled_sessions(referrer, patient, coordinator, expert):
    from ihospital.teleconsult.models import ConsultSession, SessionStatus
    from tests.teleconsult.factories import in_review_request

    req = in_review_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    session = ConsultSession.objects.create(request=req, starts_at=timezone.now() + timedelta(hours=2),
                                            created_by=coordinator)
    requests.cancel(actor=referrer, request_id=req.pk, reason="患者已转上级医院")
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    assert Notification.objects.filter(user=expert, kind="teleconsult.cancelled").exists()


def test_open_pages_are_told_after_the_commit(referrer, patient, coordinator, monkeypatch,
                                              django_capture_on_commit_callbacks):
    from ihospital.core import live

    sent = []
    monkeypatch.setattr(live, "send", lambda groups, event: sent.append((groups, event)))
    req = consented(draft_request(patient=patient, referrer=referrer))
    tariffs_for(req.referring_facility)
    with django_capture_on_commit_callbacks(execute=True):
        requests.submit(actor=referrer, request_id=req.pk)
    groups, event = sent[-1]
    assert "tc.board" in groups and f"tc.user.{referrer.pk}" in groups and f"tc.patient.{patient.pk}" in groups
    assert event == {"type": "tc.changed", "what": "request", "id": req.pk, "status": "submitted"}
