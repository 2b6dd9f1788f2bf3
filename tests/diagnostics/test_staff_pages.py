"""The staff's medical-test pages with Django's test client: ordering (doctors), sign-off, the lab's day list,
result entry, HL7 and CSV imports, DICOM uploads and the imaging report. Each page renders for its role and is
refused to the others; a service's refusal shows in place with its code and status, and nothing is written. The
rules themselves are tested with the services."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ihospital.accounts.models import Role
from ihospital.diagnostics import results
from ihospital.diagnostics.models import (
    Booking,
    DiagnosticKind,
    DiagnosticOrder,
    DicomInstance,
    Flag,
    Modality,
    Observation,
    OrderStatus,
    Specimen,
)
from tests.diagnostics import dicomgen
from tests.diagnostics import factories as f
from tests.factories import PatientFactory, PractitionerFactory, StaffUserFactory, TOTPDeviceFactory
from tests.helpers import token_headers, verify_session
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"
SAFE_POST = {"contrast_allergy": "no", "metformin": "no", "pregnant": "no"}


def client_for(user) -> Client:
    """Signed in (staff with the second factor), in English so the assertions read the msgids."""
    user.language = "en"
    user.save(update_fields=["language"])
    client = Client()
    client.force_login(user)
    if user.role != Role.PATIENT:
        verify_session(client, user.totpdevice_set.first() or TOTPDeviceFactory(user=user))
    return client


def set_status(order, status):
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


@pytest.fixture
def ct_contrast():
    return f.DiagnosticTestFactory(code="ct_abdomen_contrast", kind=DiagnosticKind.IMAGING, modality=Modality.CT,
                                   specimen=Specimen.NONE, name_en="CT abdomen with contrast",
                                   preparation={"contrast": True})


@pytest.fixture
def glucose():
    test = f.DiagnosticTestFactory(code="fpg", name_en="Fasting glucose")
    f.AnalyteFactory(test=test, code="glu", unit="mmol/L", name_en="Glucose", position=0)
    return test


def order_url(encounter, patient):
    return f"{reverse('diagnostics:order_new')}?encounter={encounter.pk}&patient={patient.pk}"


# ---- ordering ----------------------------------------------------------------------------------------------------


def test_the_doctor_orders_from_the_catalogue(doctor, patient, encounter, glucose, ct_contrast):
    client = client_for(doctor.user)
    page = client.get(order_url(encounter, patient))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Fasting glucose" in body and "CT abdomen with contrast" in body
    assert "Fasting glucose" not in client.get(order_url(encounter, patient) + "&q=abdomen").content.decode()

    done = client.post(order_url(encounter, patient), {"test_code": "fpg", "reason": "空腹血糖复查"})

    placed = DiagnosticOrder.objects.get(patient=patient, test=glucose)
    assert done.status_code == 302 and done["Location"] == f"/diagnostics/orders/{placed.pk}/"
    assert placed.encounter == encounter and placed.reason == "空腹血糖复查"


def test_a_contrast_ct_is_refused_for_egfr_25_in_place(doctor, patient, encounter, ct_contrast):
    client = client_for(doctor.user)

    page = client.post(order_url(encounter, patient), {"test_code": ct_contrast.code, "reason": "腹痛待查",
                                                       "egfr": "25", **SAFE_POST})

    assert page.status_code == 400
    assert 'data-code="renal_function_too_low"' in page.content.decode()
    assert not DiagnosticOrder.objects.exists()

    missing = client.post(order_url(encounter, patient), {"test_code": ct_contrast.code, "reason": "腹痛待查"})
    assert missing.status_code == 400 and 'data-code="safety_required"' in missing.content.decode()

    ok = client.post(order_url(encounter, patient), {"test_code": ct_contrast.code, "reason": "腹痛待查",
                                                     "egfr": "85", **SAFE_POST, "metformin": "yes"})
    assert ok.status_code == 302
    assert DiagnosticOrder.objects.get().safety["metformin_hold"]["hours_after"] == 48


def test_a_reason_is_required_and_shown_beside_the_field(doctor, patient, encounter, glucose):
    page = client_for(doctor.user).post(order_url(encounter, patient), {"test_code": "fpg", "reason": " "})
    assert page.status_code == 400
    assert 'data-code="reason_required"' in page.content.decode()
    assert not DiagnosticOrder.objects.exists()


def test_a_patient_cannot_order_imaging_for_themselves(patient, encounter, ct_contrast):
    page = client_for(patient.user).get(order_url(encounter, patient))
    assert page.status_code == 403
    refused = client_for(patient.user).post(order_url(encounter, patient), {"test_code": ct_contrast.code,
                                                                            "reason": "x", "egfr": "85",
                                                                            **SAFE_POST})
    assert refused.status_code == 403
    assert not DiagnosticOrder.objects.exists()


def test_another_doctors_encounter_answers_404(patient, encounter, glucose):
    other = PractitionerFactory()
    assert client_for(other.user).get(order_url(encounter, patient)).status_code == 404
    assert client_for(other.user).get(reverse("diagnostics:order_new")).status_code == 404


# ---- sign-off ----------------------------------------------------------------------------------------------------


def _resulted(doctor, patient, *, flag_value, number):
    test = f.DiagnosticTestFactory()
    analyte = f.AnalyteFactory(test=test, unit="mmol/L")
    f.ReferenceRangeFactory(analyte=analyte, low=Decimal("3.5"), high=Decimal("5.5"),
                            critical_low=Decimal("2.5"), critical_high=Decimal("6.5"))
    order = f.DiagnosticOrderFactory(number=number, doctor=doctor, patient=patient, test=test,
                                     encounter=EncounterFactory(patient=patient, practitioner=doctor))
    set_status(order, OrderStatus.COLLECTED)
    tech = StaffUserFactory(role=Role.LAB_TECH)
    results.record(actor=tech, order_id=order.pk, values=[{"analyte": analyte.code, "value": flag_value}])
    return order


def test_the_sign_off_list_shows_the_critical_first_and_signs_off(doctor, patient, lab_tech):
    normal = _resulted(doctor, patient, flag_value="4.0", number="DXNORMAL1")
    critical = _resulted(doctor, patient, flag_value="7.5", number="DXCRIT1")
    client = client_for(doctor.user)

    page = client.get(reverse("diagnostics:signoff"))

    body = page.content.decode()
    assert page.status_code == 200
    assert body.index("DXCRIT1") < body.index("DXNORMAL1")
    assert body.count("CRITICAL") == 1 and body.index("CRITICAL") < body.index("DXNORMAL1")

    done = client.post(reverse("diagnostics:signoff_order", args=[critical.pk]))
    assert done.status_code == 302
    critical.refresh_from_db()
    assert critical.status == OrderStatus.RELEASED
    assert 'data-number="DXCRIT1"' not in client.get(reverse("diagnostics:signoff")).content.decode()

    other = PractitionerFactory()
    refused = client_for(other.user).post(reverse("diagnostics:signoff_order", args=[normal.pk]))
    assert refused.status_code == 403 and 'data-code="not_ordering_doctor"' in refused.content.decode()
    normal.refresh_from_db()
    assert normal.status == OrderStatus.RESULTED
    assert client_for(lab_tech).get(reverse("diagnostics:signoff")).status_code == 403


# ---- the lab -----------------------------------------------------------------------------------------------------


def test_the_lab_day_list_checks_patients_in(doctor, patient, lab_tech, glucose):
    resource = f.ResourceFactory()
    now = timezone.localtime()
    slot = f.ResourceSlotFactory(resource=resource, starts_at=now, ends_at=now + timedelta(minutes=15))
    order = set_status(f.DiagnosticOrderFactory(doctor=doctor, patient=patient, test=glucose,
                                                encounter=EncounterFactory(patient=patient)), OrderStatus.BOOKED)
    Booking.objects.create(order=order, slot=slot, booked_by=patient.user)
    client = client_for(lab_tech)

    page = client.get(reverse("diagnostics:lab"))
    assert page.status_code == 200 and order.number in page.content.decode()

    done = client.post(reverse("diagnostics:lab_check_in", args=[order.pk]))
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CHECKED_IN
    again = client.post(reverse("diagnostics:lab_check_in", args=[order.pk]))
    assert again.status_code == 409 and 'data-code="not_booked"' in again.content.decode()
    assert client_for(doctor.user).get(reverse("diagnostics:lab")).status_code == 403
    assert client_for(patient.user).get(reverse("diagnostics:lab")).status_code == 403

    # Checked in: the lab marks the specimen taken, then the results can be entered.
    page = client.get(reverse("diagnostics:lab")).content.decode()
    assert 'data-testid="collect"' in page
    assert client.post(reverse("diagnostics:lab_collect", args=[order.pk])).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    twice = client.post(reverse("diagnostics:lab_collect", args=[order.pk]))
    assert twice.status_code == 409 and 'data-code="not_checked_in"' in twice.content.decode()


def test_the_lab_day_list_leaves_out_cancelled_bookings(doctor, patient, lab_tech, glucose):
    resource = f.ResourceFactory()
    now = timezone.localtime()
    slot = f.ResourceSlotFactory(resource=resource, starts_at=now, ends_at=now + timedelta(minutes=15))
    order = f.DiagnosticOrderFactory(doctor=doctor, patient=patient, test=glucose,
                                     encounter=EncounterFactory(patient=patient))
    Booking.objects.create(order=order, slot=slot, booked_by=patient.user, cancelled_at=timezone.now(),
                           cancelled_by=patient.user)

    page = client_for(lab_tech).get(reverse("diagnostics:lab")).content.decode()

    assert order.number not in page


def test_lab_result_entry_shows_a_bad_value_in_place_and_writes_nothing(doctor, patient, lab_tech, glucose):
    order = set_status(f.DiagnosticOrderFactory(doctor=doctor, patient=patient, test=glucose,
                                                encounter=EncounterFactory(patient=patient)), OrderStatus.COLLECTED)
    client = client_for(lab_tech)
    url = reverse("diagnostics:lab_results", args=[order.pk])
    assert client.get(url).status_code == 200

    bad = client.post(url, {"value-glu": "abc"})

    assert bad.status_code == 400
    body = bad.content.decode()
    assert 'data-testid="row-error"' in body and "This is not a number." in body and 'value="abc"' in body
    assert not Observation.objects.exists()

    good = client.post(url, {"value-glu": "5.1"})
    assert good.status_code == 302
    assert Observation.objects.get().value == Decimal("5.1")
    assert client_for(doctor.user).get(url).status_code == 403
    assert client_for(lab_tech).get(reverse("diagnostics:lab_results", args=[999999])).status_code == 404


@pytest.fixture
def cbc_order():
    """As test_hl7import prepares it: the blood count of the message, collected."""
    from tests.diagnostics.test_hl7import import ANALYTES, dec

    test = f.DiagnosticTestFactory(code="cbc", loinc="58410-2")
    for i, (code, loinc, unit, low, high, cl, ch) in enumerate(ANALYTES):
        analyte = f.AnalyteFactory(test=test, code=code, loinc=loinc, unit=unit, position=i)
        f.ReferenceRangeFactory(analyte=analyte, low=dec(low), high=dec(high), critical_low=dec(cl),
                                critical_high=dec(ch))
    patient = PatientFactory(user__real_name="张伟", mrn="P9123456", birth_date=date(1980, 3, 7), sex_="M")
    doctor = PractitionerFactory()
    o = f.DiagnosticOrderFactory(number="DX20260310001", test=test, patient=patient, doctor=doctor,
                                 encounter=EncounterFactory(patient=patient, practitioner=doctor))
    return set_status(o, OrderStatus.COLLECTED)


def test_an_hl7_message_pasted_is_imported_with_its_report_and_ack(cbc_order, lab_tech):
    message = (DATA / "cbc_oru_r01.hl7").read_bytes().decode("utf-8")

    page = client_for(lab_tech).post(reverse("diagnostics:lab_hl7"), {"message": message})

    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-ok="yes"' in body and "DX20260310001" in body
    assert f'data-flag="{Flag.CRITICAL_LOW}"' in body
    assert "MSA|AA|LAB20260310-0001" in body
    assert Observation.objects.filter(order=cbc_order).count() == 7


def test_a_malformed_hl7_message_is_refused_and_nothing_imported(cbc_order, lab_tech):
    page = client_for(lab_tech).post(reverse("diagnostics:lab_hl7"), {"message": "MSH|garbage\rPID|"})

    assert page.status_code == 400
    body = page.content.decode()
    assert 'data-ok="no"' in body and 'data-code="malformed_hl7"' in body and "MSA|AR" in body
    assert not Observation.objects.exists()
    cbc_order.refresh_from_db()
    assert cbc_order.status == OrderStatus.COLLECTED
    assert client_for(cbc_order.doctor.user).get(reverse("diagnostics:lab_hl7")).status_code == 403


def test_a_csv_file_is_imported_and_a_bad_one_refused_by_row(doctor, patient, lab_tech, glucose):
    order = set_status(f.DiagnosticOrderFactory(doctor=doctor, patient=patient, test=glucose,
                                                encounter=EncounterFactory(patient=patient)), OrderStatus.COLLECTED)
    client = client_for(lab_tech)
    header = "order_number,analyte,value,unit,observed_at\n"

    bad = client.post(reverse("diagnostics:lab_csv"), {
        "file": SimpleUploadedFile("r.csv", f"{header}{order.number},glu,abc,mmol/L,\n".encode())})
    assert bad.status_code == 400
    assert 'data-code="invalid_csv"' in bad.content.decode() and "row 2" in bad.content.decode()
    assert not Observation.objects.exists()

    good = client.post(reverse("diagnostics:lab_csv"), {
        "file": SimpleUploadedFile("r.csv", f"{header}{order.number},glu,5.2,mmol/L,\n".encode())})
    assert good.status_code == 200 and 'data-testid="csv-report"' in good.content.decode()
    assert Observation.objects.get(order=order).value == Decimal("5.2")


# ---- images and the report ---------------------------------------------------------------------------------------


@pytest.fixture
def ct_order(doctor):
    patient = PatientFactory(user__real_name="李建华", birth_date=date(1970, 1, 2), sex_="M")
    test = f.DiagnosticTestFactory(kind=DiagnosticKind.IMAGING, modality=Modality.CT, specimen=Specimen.NONE)
    order = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, test=test,
                                     encounter=EncounterFactory(patient=patient))
    return set_status(order, OrderStatus.CHECKED_IN)


def _ct_file(order) -> SimpleUploadedFile:
    ds = dicomgen.ct(patient_id=order.patient.mrn, patient_name="LI^JIANHUA=李建华",
                     birth_date=order.patient.birth_date)
    return SimpleUploadedFile("ct.dcm", dicomgen.to_bytes(ds), content_type="application/dicom")


def test_dicom_upload_stores_a_generated_file_and_refuses_a_pdf(ct_order, lab_tech, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = str(tmp_path)
    client = client_for(lab_tech)
    url = reverse("diagnostics:lab_dicom", args=[ct_order.pk])
    assert client.get(url).status_code == 200

    pdf = SimpleUploadedFile("report.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
                             content_type="application/pdf")
    refused = client.post(url, {"files": [pdf]})
    assert refused.status_code == 400
    assert 'data-ok="no"' in refused.content.decode() and "report.pdf" in refused.content.decode()
    assert not DicomInstance.objects.exists()

    stored = client.post(url, {"files": [_ct_file(ct_order)]})
    assert stored.status_code == 200 and 'data-ok="yes"' in stored.content.decode()
    instance = DicomInstance.objects.get()
    assert f"/diagnostics/images/{instance.pk}/preview.png" in stored.content.decode()
    ct_order.refresh_from_db()
    assert ct_order.status == OrderStatus.COLLECTED


def test_the_ordering_doctor_reports_the_study(ct_order, lab_tech, doctor, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = str(tmp_path)
    url = reverse("diagnostics:report", args=[ct_order.pk])
    client = client_for(doctor.user)
    empty = client.post(url, {"findings": "肝内未见异常", "impression": "未见异常"})
    assert empty.status_code == 409 and 'data-code="no_images"' in empty.content.decode()

    client_for(lab_tech).post(reverse("diagnostics:lab_dicom", args=[ct_order.pk]), {"files": [_ct_file(ct_order)]})
    page = client.get(url)
    assert page.status_code == 200 and "preview.png" in page.content.decode()
    missing = client.post(url, {"findings": "肝内未见异常", "impression": ""})
    assert missing.status_code == 400 and 'data-code="invalid_report"' in missing.content.decode()

    done = client.post(url, {"findings": "肝内未见异常", "impression": "未见异常"})
    assert done.status_code == 302
    ct_order.refresh_from_db()
    assert ct_order.status == OrderStatus.RESULTED and ct_order.study.impression == "未见异常"
    assert client_for(PractitionerFactory().user).get(url).status_code == 404
    assert client_for(lab_tech).get(url).status_code == 403


def test_the_menu_links_doctors_and_lab_staff_to_their_pages(doctor, lab_tech, patient):
    doctor_home = client_for(doctor.user).get(reverse("diagnostics:signoff")).content.decode()
    assert 'data-testid="nav-dx-signoff"' in doctor_home and 'data-testid="nav-dx-lab"' not in doctor_home
    lab_home = client_for(lab_tech).get(reverse("diagnostics:lab")).content.decode()
    assert 'data-testid="nav-dx-lab"' in lab_home and 'data-testid="nav-dx-signoff"' not in lab_home


def test_the_doctor_orders_during_an_online_visit(doctor, patient, glucose):
    from tests.prescriptions.factories import visit_in_progress

    visit = visit_in_progress(patient, doctor)
    url = f"{reverse('diagnostics:order_new')}?visit={visit.pk}"
    client = client_for(doctor.user)
    assert client.get(url).status_code == 200

    done = client.post(url, {"test_code": "fpg", "reason": "随访复查"})

    assert done.status_code == 302
    assert DiagnosticOrder.objects.get(patient=patient).visit == visit
    assert client_for(PractitionerFactory().user).get(url).status_code == 404


def test_an_hl7_file_can_be_uploaded_instead_of_pasted(cbc_order, lab_tech):
    upload = SimpleUploadedFile("cbc.hl7", (DATA / "cbc_oru_r01.hl7").read_bytes())

    page = client_for(lab_tech).post(reverse("diagnostics:lab_hl7"), {"message": "", "file": upload})

    assert page.status_code == 200 and 'data-ok="yes"' in page.content.decode()
    assert Observation.objects.filter(order=cbc_order).count() == 7
    empty = client_for(lab_tech).post(reverse("diagnostics:lab_hl7"), {"message": " "})
    assert empty.status_code == 400 and "Paste a message or choose a file." in empty.content.decode()


def test_a_radiologist_reports_a_study_ordered_by_another_doctor(ct_order, lab_tech, settings, tmp_path):
    from tests.factories import DepartmentFactory

    settings.PRIVATE_STORAGE_ROOT = str(tmp_path)
    client_for(lab_tech).post(reverse("diagnostics:lab_dicom", args=[ct_order.pk]), {"files": [_ct_file(ct_order)]})
    radiologist = PractitionerFactory(departments=[DepartmentFactory(code="radiology")])
    url = reverse("diagnostics:report", args=[ct_order.pk])
    client = client_for(radiologist.user)
    assert client.get(url).status_code == 200

    done = client.post(url, {"findings": "双肺纹理清晰", "impression": "未见异常"})

    assert done.status_code == 302
    ct_order.refresh_from_db()
    assert ct_order.status == OrderStatus.RESULTED and ct_order.study.reported_by == radiologist.user


def test_signing_off_from_the_order_page_returns_to_it(doctor, patient):
    order = _resulted(doctor, patient, flag_value="4.0", number="DXBACK1")

    done = client_for(doctor.user).post(reverse("diagnostics:signoff_order", args=[order.pk]), {"back": "order"})

    assert done.status_code == 302 and done["Location"] == f"/diagnostics/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    again = client_for(doctor.user).post(reverse("diagnostics:signoff_order", args=[order.pk]))
    assert again.status_code == 409 and 'data-code="not_resulted"' in again.content.decode()


def test_the_doctors_visit_room_links_to_ordering_tests_for_that_visit(doctor, patient, glucose):
    import re

    from ihospital.visits.models import Visit, VisitStatus
    from tests.prescriptions.factories import visit_in_progress

    visit = visit_in_progress(patient, doctor)
    client = client_for(doctor.user)
    room = client.get(reverse("visits:room", args=[visit.pk])).content.decode()
    link = re.search(r'href="([^"]+)" data-testid="order-tests"', room)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert url == f"{reverse('diagnostics:order_new')}?visit={visit.pk}"

    page = client.get(url)
    assert page.status_code == 200
    assert f'name="visit" value="{visit.pk}"' in page.content.decode()
    assert patient.mrn in page.content.decode()
    assert client.post(url, {"test_code": "fpg", "reason": "随访复查"}).status_code == 302
    assert DiagnosticOrder.objects.get(patient=patient).visit == visit

    Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.CLOSED)
    closed = client.get(reverse("visits:room", args=[visit.pk])).content.decode()
    assert 'data-testid="order-tests"' not in closed


def _radiologist():
    from tests.factories import DepartmentFactory

    return PractitionerFactory(departments=[DepartmentFactory(code="radiology")])


def _denied_reads(user, order):
    from ihospital.core.models import AuditEvent, AuditOutcome

    return AuditEvent.objects.filter(actor=user, outcome=AuditOutcome.DENIED, object_id=str(order.pk)).count()


def test_a_radiologist_sees_an_imaging_order_as_radiologist_and_reports_it_from_its_page(ct_order, lab_tech,
                                                                                       settings, tmp_path):
    from ihospital.diagnostics.selectors import role_for_order

    settings.PRIVATE_STORAGE_ROOT = str(tmp_path)
    client_for(lab_tech).post(reverse("diagnostics:lab_dicom", args=[ct_order.pk]), {"files": [_ct_file(ct_order)]})
    radiologist = _radiologist()
    assert role_for_order(radiologist.user, ct_order) == "radiologist"
    client = client_for(radiologist.user)

    page = client.get(reverse("diagnostics:order", args=[ct_order.pk]))

    assert page.status_code == 200
    body = page.content.decode()
    assert ct_order.patient.mrn in body
    assert f'href="{reverse("diagnostics:report", args=[ct_order.pk])}"' in body and 'data-testid="report-link"' in body
    assert client.post(reverse("diagnostics:report", args=[ct_order.pk]),
                       {"findings": "肝内未见占位", "impression": "未见异常"}).status_code == 302
    ct_order.refresh_from_db()
    assert ct_order.status == OrderStatus.RESULTED
    after = client.get(reverse("diagnostics:order", args=[ct_order.pk])).content.decode()
    assert 'data-testid="report-link"' not in after
    api = Client().get(f"/api/diagnostics/orders/{ct_order.pk}", headers=token_headers(radiologist.user))
    assert api.status_code == 200 and api.json()["role"] == "radiologist"


def test_a_radiologist_on_a_lab_order_gets_404_audited(cbc_order):
    from ihospital.diagnostics import imaging
    from ihospital.diagnostics.selectors import role_for_order

    radiologist = _radiologist()
    assert role_for_order(radiologist.user, cbc_order) is None
    client = client_for(radiologist.user)

    assert client.get(reverse("diagnostics:order", args=[cbc_order.pk])).status_code == 404
    assert client.get(reverse("diagnostics:report", args=[cbc_order.pk])).status_code == 404
    assert client.post(reverse("diagnostics:report", args=[cbc_order.pk]),
                       {"findings": "x", "impression": "y"}).status_code == 404
    assert _denied_reads(radiologist.user, cbc_order) == 3
    with pytest.raises(imaging.NotFound):
        imaging.report(actor=radiologist.user, order_id=cbc_order.pk, findings="x", impression="y")
    cbc_order.refresh_from_db()
    assert cbc_order.status == OrderStatus.COLLECTED


def test_an_ordinary_doctor_who_did_not_order_the_exam_gets_404_audited(ct_order, lab_tech, settings, tmp_path):
    from ihospital.diagnostics import imaging

    settings.PRIVATE_STORAGE_ROOT = str(tmp_path)
    client_for(lab_tech).post(reverse("diagnostics:lab_dicom", args=[ct_order.pk]), {"files": [_ct_file(ct_order)]})
    other = PractitionerFactory()
    client = client_for(other.user)

    assert client.get(reverse("diagnostics:order", args=[ct_order.pk])).status_code == 404
    assert client.get(reverse("diagnostics:report", args=[ct_order.pk])).status_code == 404
    assert client.post(reverse("diagnostics:report", args=[ct_order.pk]),
                       {"findings": "x", "impression": "y"}).status_code == 404
    assert _denied_reads(other.user, ct_order) == 3
    with pytest.raises(imaging.NotFound):
        imaging.report(actor=other.user, order_id=ct_order.pk, findings="x", impression="y")
    ct_order.refresh_from_db()
    assert ct_order.status == OrderStatus.COLLECTED


def test_the_visit_room_lists_the_tests_ordered_in_the_visit(doctor, patient, glucose):
    from ihospital.core.models import AuditEvent, AuditOutcome
    from ihospital.visits.models import Visit, VisitStatus
    from tests.prescriptions.factories import visit_in_progress

    visit = visit_in_progress(patient, doctor)
    client = client_for(doctor.user)
    panel = reverse("diagnostics:visit_orders", args=[visit.pk])
    assert f'hx-get="{panel}"' in client.get(reverse("visits:room", args=[visit.pk])).content.decode()
    empty = client.get(panel, headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="visit-orders-none"' in empty and 'data-testid="order-tests"' in empty
    client.post(f"{reverse('diagnostics:order_new')}?visit={visit.pk}", {"test_code": "fpg", "reason": "随访复查"})
    order = DiagnosticOrder.objects.get(visit=visit)
    # Another order of the same patient, outside the visit, is not listed.
    elsewhere = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, test=glucose,
                                         encounter=EncounterFactory(patient=patient))

    listed = client.get(panel, headers={"HX-Request": "true"}).content.decode()

    assert order.number in listed and elsewhere.number not in listed
    assert f'href="{reverse("diagnostics:order", args=[order.pk])}"' in listed
    assert "<html" not in listed and "<html" in client.get(panel).content.decode()  # a page without htmx
    Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.CLOSED)
    closed = client.get(panel, headers={"HX-Request": "true"}).content.decode()
    assert order.number in closed and 'data-testid="order-tests"' not in closed

    stranger = PractitionerFactory()
    assert client_for(stranger.user).get(panel).status_code == 404
    assert AuditEvent.objects.filter(actor=stranger.user, outcome=AuditOutcome.DENIED, object_type="visits.visit",
                                     object_id=str(visit.pk)).exists()
    assert client_for(patient.user).get(panel).status_code in (403, 404)
