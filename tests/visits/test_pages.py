"""The visit pages (not the room): the patient's list, the three steps of a new visit, moving and cancelling,
the in-person booking page, and the doctor's day, worklist and queues. Thin views: these tests check that each
page reaches the right service and shows a refusal in the page, with the way out the service points to."""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from ihospital.accounts.models import ConsentKind
from ihospital.accounts.services import has_consent
from ihospital.records.models import Document
from ihospital.scheduling.models import Appointment, AppointmentStatus
from ihospital.visits.models import BasisStatus, Visit, VisitStatus
from tests.helpers import current_code, verify_session, wrong_code
from tests.visits import flows
from tests.visits.factories import ConditionFactory, ConsultationDayFactory, SlotFactory, online_doctor

pytestmark = pytest.mark.django_db

NEW = "/visits/new/"


@pytest.fixture
def patient_client(client, patient):
    client.force_login(patient.user)
    return client


def doctor_client(client, practitioner):
    client.force_login(practitioner.user)
    verify_session(client, practitioner.user.totpdevice_set.get())
    return client


def tiny_png() -> bytes:
    """A real 1x1 PNG (records accept files by their bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(
        b"IEND", b"")


def wizard(**params) -> str:
    return NEW + "?" + "&".join(f"{k}={v}" for k, v in params.items())


# ---- step 1: the basis -------------------------------------------------------------------------------------------


def test_without_a_diagnosis_the_first_step_refuses_and_points_to_in_person_booking(patient_client):
    response = patient_client.get(NEW)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="first-visit-refusal"' in page
    assert 'href="/visits/in-person/"' in page
    assert 'action="/visits/new/record/"' in page  # uploading a record is still offered


def test_only_definite_in_person_diagnoses_can_be_chosen_others_say_why(patient_client, patient, diagnosis):
    ConditionFactory(patient=patient, code="E11", provisional=True)
    ConditionFactory(patient=patient, code="J45", at_partner=True)
    page = patient_client.get(NEW).content.decode()
    assert f'href="/visits/new/?condition={diagnosis.pk}"' in page
    assert page.count('aria-disabled="true"') == 2
    assert 'data-testid="first-visit-refusal"' not in page


def test_a_basis_that_does_not_qualify_in_the_address_gets_the_refusal(patient_client, patient):
    provisional = ConditionFactory(patient=patient, provisional=True)
    response = patient_client.get(wizard(condition=provisional.pk, how="queue"))
    assert response.status_code == 403
    assert 'data-testid="page-error-link"' in response.content.decode()


def test_uploading_a_record_makes_it_the_basis(patient_client, patient):
    upload = SimpleUploadedFile("summary.png", tiny_png(), content_type="image/png")
    response = patient_client.post("/visits/new/record/", {"kind": "discharge_summary", "title": "出院小结",
                                                           "file": upload})
    assert response.status_code == 302
    document_id = int(response["Location"].split("document=")[1])
    page = patient_client.get(response["Location"]).content.decode()
    assert "出院小结" in page and 'data-testid="how-queue"' in page
    assert Document.objects.get(pk=document_id).patient == patient


def test_a_record_of_the_wrong_kind_cannot_be_uploaded_as_a_basis(patient_client):
    upload = SimpleUploadedFile("x.png", tiny_png(), content_type="image/png")
    response = patient_client.post("/visits/new/record/", {"kind": "lab_report", "title": "", "file": upload})
    assert response.status_code == 400


# ---- steps 2 and 3: a doctor and a time, or the queue ------------------------------------------------------------


def test_booking_a_doctors_time_asks_consent_once_and_lands_in_the_room(patient_client, patient, diagnosis, slot,
                                                                        department, doc):
    address = wizard(condition=diagnosis.pk, how="doctor", department=department.pk, doctor=doc.pk)
    page = patient_client.get(address).content.decode()
    assert f"slot={slot.pk}" in page

    address += f"&slot={slot.pk}"
    page = patient_client.get(address).content.decode()
    assert 'name="online_care_consent"' in page

    refused = patient_client.post(address, {"complaint": "血压高"})  # consent not given
    assert refused.status_code == 400 and not Visit.objects.exists()

    response = patient_client.post(address, {"complaint": "血压高", "online_care_consent": "on"})
    visit = Visit.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("visits:room", args=[visit.pk])
    assert visit.appointment.slot == slot and visit.doctor == doc and visit.condition == diagnosis
    assert has_consent(patient, ConsentKind.ONLINE_CARE)
    # The next time the consent is not asked again.
    assert 'name="online_care_consent"' not in patient_client.get(address).content.decode()


def test_an_empty_reason_is_shown_on_the_field(patient_client, diagnosis, slot, department, doc):
    address = wizard(condition=diagnosis.pk, how="doctor", department=department.pk, doctor=doc.pk, slot=slot.pk)
    response = patient_client.post(address, {"complaint": "  ", "online_care_consent": "on"})
    assert response.status_code == 400
    assert 'class="field has-error"' in response.content.decode()
    assert not Visit.objects.exists()


def test_a_full_slot_sends_the_patient_back_to_choose_another_time(patient_client, diagnosis, doc, department,
                                                                   other_patient, slot):
    full = SlotFactory(practitioner=doc, department=department, capacity=1)
    flows.book(other_patient, full, ConditionFactory(patient=other_patient))
    address = wizard(condition=diagnosis.pk, how="doctor", department=department.pk, doctor=doc.pk, slot=full.pk)
    response = patient_client.post(address, {"complaint": "复诊", "online_care_consent": "on"})
    assert response.status_code == 409
    page = response.content.decode()
    assert 'data-testid="page-error"' in page and 'data-testid="slots"' in page
    assert Visit.objects.count() == 1


def test_joining_the_queue_shows_the_wait_then_lands_in_the_room(patient_client, diagnosis, department, doc):
    page = patient_client.get(wizard(condition=diagnosis.pk, how="queue", department=department.pk)).content.decode()
    assert 'data-testid="queue-waiting">0<' in page
    address = wizard(condition=diagnosis.pk, how="queue", department=department.pk, mode="video")
    response = patient_client.post(address, {"complaint": "复诊开药", "online_care_consent": "on"})
    visit = Visit.objects.get()
    assert response.status_code == 302 and visit.in_queue and visit.mode == "video"


def test_a_relative_books_for_the_patient_they_act_for(client, patient, relative, diagnosis, slot, department, doc):
    client.force_login(relative)
    client.post("/accounts/act-for/", {"patient_id": patient.pk})
    address = wizard(condition=diagnosis.pk, how="doctor", department=department.pk, doctor=doc.pk, slot=slot.pk)
    response = client.post(address, {"complaint": "替父亲复诊", "online_care_consent": "on"})
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert visit.patient == patient and visit.requested_by == relative


# ---- the list: cancel and move --------------------------------------------------------------------------------


def test_the_list_shows_the_visit_with_its_doctor_and_actions(patient_client, patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    page = patient_client.get("/visits/").content.decode()
    assert f'data-testid="visit-{visit.pk}"' in page
    assert doc.user.real_name in page
    assert f'href="/visits/{visit.pk}/reschedule/"' in page and f'action="/visits/mine/{visit.pk}/cancel/"' in page


def test_leaving_the_queue_from_the_list(patient_client, patient, diagnosis, department):
    visit = flows.queue(patient, department, diagnosis)
    response = patient_client.post(f"/visits/mine/{visit.pk}/cancel/")
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED


def test_cancelling_too_late_is_refused_with_the_limit_in_the_page(patient_client, patient, diagnosis, doc,
                                                                    department):
    soon = SlotFactory(practitioner=doc, department=department, starts_at=timezone.now() + timedelta(minutes=50),
                       ends_at=timezone.now() + timedelta(minutes=65))
    visit = flows.book(patient, soon, diagnosis)
    response = patient_client.post(f"/visits/mine/{visit.pk}/cancel/")
    assert response.status_code == 409
    assert 'data-testid="page-error"' in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.REQUESTED and visit.appointment.status == AppointmentStatus.BOOKED


def test_moving_a_visit_to_another_time_of_the_same_doctor(patient_client, patient, diagnosis, slot, doc,
                                                         department):
    visit = flows.book(patient, slot, diagnosis)
    later = SlotFactory(practitioner=doc, department=department)
    page = patient_client.get(f"/visits/{visit.pk}/reschedule/").content.decode()
    assert f'name="slot" value="{later.pk}"' in page and f'name="slot" value="{slot.pk}"' not in page
    response = patient_client.post(f"/visits/{visit.pk}/reschedule/", {"slot": later.pk})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.appointment.slot == later
    assert Appointment.objects.get(slot=slot).status == AppointmentStatus.CANCELLED


def test_moving_to_another_doctors_time_is_refused_and_nothing_changes(patient_client, patient, diagnosis, slot,
                                                                       department):
    visit = flows.book(patient, slot, diagnosis)
    elsewhere = SlotFactory(practitioner=online_doctor(department), department=department)
    response = patient_client.post(f"/visits/{visit.pk}/reschedule/", {"slot": elsewhere.pk})
    assert response.status_code == 400
    visit.refresh_from_db()
    assert visit.appointment.slot == slot and visit.appointment.status == AppointmentStatus.BOOKED


def test_someone_elses_visit_cannot_be_moved_or_cancelled(client, other_patient, patient, diagnosis, slot):
    visit = flows.book(patient, slot, diagnosis)
    client.force_login(other_patient.user)
    assert client.get(f"/visits/{visit.pk}/reschedule/").status_code == 404
    assert client.post(f"/visits/mine/{visit.pk}/cancel/").status_code == 404


def test_the_in_person_page_is_public(client, department):
    response = client.get("/visits/in-person/")
    assert response.status_code == 200
    assert department.name_zh in response.content.decode()


def test_staff_cannot_open_the_patient_pages(client, doc):
    doctor_client(client, doc)
    assert client.get("/visits/new/").status_code == 403


# ---- doctors ------------------------------------------------------------------------------------------------------


def test_starting_the_day_with_the_current_code_opens_the_worklist(client, department):
    practitioner = online_doctor(department, consulting=False)
    doctor_client(client, practitioner)
    response = client.post("/visits/doctor/start-day/", {"code": current_code(practitioner.user.totpdevice_set.get())})
    assert response.status_code == 302 and response["Location"] == "/visits/doctor/"
    assert 'data-testid="day-started"' in client.get("/visits/doctor/start-day/").content.decode()


def test_a_wrong_code_does_not_start_the_day(client, department):
    practitioner = online_doctor(department, consulting=False)
    doctor_client(client, practitioner)
    response = client.post("/visits/doctor/start-day/", {"code": wrong_code(practitioner.user.totpdevice_set.get())})
    assert response.status_code == 401 and 'class="alert alert-error"' in response.content.decode()
    assert 'data-testid="day-not-started"' in client.get("/visits/doctor/").content.decode()


def test_the_worklist_shows_the_queue_and_taking_the_next_patient_opens_the_room(client, patient, diagnosis, doc,
                                                                                 department):
    visit = flows.queue(patient, department, diagnosis)
    doctor_client(client, doc)
    page = client.get("/visits/doctor/").content.decode()
    assert f'data-queue-department="{department.pk}"' in page and patient.user.real_name in page
    response = client.post(f"/visits/doctor/queue/{department.pk}/take/")
    assert response.status_code == 302 and response["Location"] == reverse("visits:room", args=[visit.pk])
    visit.refresh_from_db()
    assert visit.doctor == doc and visit.status == VisitStatus.ACCEPTED and visit.basis_status == BasisStatus.ACCEPTED


def test_taking_a_patient_before_confirming_the_day_points_to_the_code_page(client, patient, diagnosis,
                                                                           department):
    practitioner = online_doctor(department, consulting=False)
    flows.queue(patient, department, diagnosis)
    doctor_client(client, practitioner)
    response = client.post(f"/visits/doctor/queue/{department.pk}/take/")
    assert response.status_code == 401
    page = response.content.decode()
    assert 'href="/visits/doctor/start-day/"' in page
    ConsultationDayFactory(practitioner=practitioner)
    assert client.post(f"/visits/doctor/queue/{department.pk}/take/").status_code == 302


def test_an_empty_queue_says_so(client, doc, department):
    doctor_client(client, doc)
    response = client.post(f"/visits/doctor/queue/{department.pk}/take/")
    assert response.status_code == 404 and 'data-testid="page-error"' in response.content.decode()


def test_a_doctor_who_may_not_consult_online_sees_why(client, department):
    from tests.factories import DoctorFactory, TOTPDeviceFactory

    junior = DoctorFactory(departments=[department], facility=department.facility,
                           independent_practice_since=timezone.localdate() - timedelta(days=365))
    TOTPDeviceFactory(user=junior.user)
    doctor_client(client, junior)
    page = client.get("/visits/doctor/").content.decode()
    assert 'data-testid="practice-refusal"' in page and "data-queue-department" not in page
    assert 'data-testid="practice-refusal"' in client.get("/visits/doctor/start-day/").content.decode()


def test_the_home_pages_link_to_the_visit_pages(client, patient, doc):
    client.force_login(patient.user)
    assert 'href="/visits/"' in client.get("/").content.decode()
    client.logout()
    doctor_client(client, doc)
    page = client.get("/").content.decode()
    for address in ("/visits/doctor/", "/visits/doctor/start-day/", "/scheduling/availability/"):
        assert f'href="{address}"' in page
