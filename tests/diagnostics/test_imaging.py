"""Imaging studies: uploading checked DICOM images, previews for the people entitled to them, and the report."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pydicom.uid import generate_uid

from ihospital.accounts.models import ConsentKind, Proxy, ProxyStatus, Role
from ihospital.core.audit import verify_chain
from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent, AuditOutcome, TimelineEvent
from ihospital.diagnostics import dicom_storage, imaging
from ihospital.diagnostics.models import DiagnosticOrder, DicomInstance, ImagingStudy, OrderStatus
from tests.diagnostics import dicomgen
from tests.diagnostics.factories import DiagnosticOrderFactory, DiagnosticTestFactory
from tests.factories import (
    ConsentFactory,
    DepartmentFactory,
    PatientFactory,
    PractitionerFactory,
    StaffUserFactory,
    UserFactory,
)
from tests.helpers import run_in_threads
from tests.visits.factories import EncounterFactory

REAL_NAME = "李建华"


@pytest.fixture
def patient(db):
    return PatientFactory(user__real_name=REAL_NAME, birth_date=date(1970, 1, 2), sex_="M")


@pytest.fixture
def doctor(db):
    return PractitionerFactory()


@pytest.fixture
def tech(db):
    return StaffUserFactory(role=Role.LAB_TECH)


def _order(patient, doctor, *, modality="CT", kind="imaging", status=OrderStatus.CHECKED_IN):
    test = DiagnosticTestFactory(kind=kind, modality=modality, specimen="" if kind != "lab" else "venous_blood")
    order = DiagnosticOrderFactory(patient=patient, doctor=doctor, test=test,
                                   encounter=EncounterFactory(patient=patient))
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


@pytest.fixture
def order(patient, doctor):
    return _order(patient, doctor)


def _ct(patient, **kw):
    kw.setdefault("patient_id", patient.mrn)
    kw.setdefault("patient_name", f"LI^JIANHUA={REAL_NAME}")
    kw.setdefault("birth_date", patient.birth_date)
    return dicomgen.ct(**kw)


def _file(ds_or_bytes, name="image.dcm") -> SimpleUploadedFile:
    data = ds_or_bytes if isinstance(ds_or_bytes, bytes) else dicomgen.to_bytes(ds_or_bytes)
    return SimpleUploadedFile(name, data, content_type="application/dicom")


def _stored_files() -> list[Path]:
    return [p for p in Path(settings.PRIVATE_STORAGE_ROOT).rglob("*") if p.is_file()]


def _refused(code, *, actor, order, file) -> DomainError:
    before_events = TimelineEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=actor, order_id=order.pk, file=file)
    assert caught.value.code == code
    assert _stored_files() == []
    assert not DicomInstance.objects.exists()
    assert not ImagingStudy.objects.exists()
    assert TimelineEvent.objects.count() == before_events
    order.refresh_from_db()
    assert order.status == OrderStatus.CHECKED_IN
    return caught.value


# ---- upload ----------------------------------------------------------------------------------------------------


def test_upload_stores_privately_and_moves_the_order_to_collected(order, patient, tech):
    ds = _ct(patient)
    data = dicomgen.to_bytes(ds)

    instance = imaging.upload(actor=tech, order_id=order.pk, file=_file(data))

    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    study = instance.study
    assert (study.order, study.study_uid, study.modality, study.study_date) == (
        order, ds.StudyInstanceUID, "CT", date(2026, 11, 20))
    assert instance.sop_instance_uid == ds.SOPInstanceUID
    assert instance.series_uid == ds.SeriesInstanceUID
    assert (instance.rows, instance.columns) == (4, 256)
    assert (instance.window_center, instance.window_width) == (40.0, 400.0)
    assert instance.uploaded_by == tech
    path = dicom_storage.path_of(instance.storage_name)
    assert path.read_bytes() == data
    assert path.is_relative_to(Path(settings.PRIVATE_STORAGE_ROOT) / "dicom")
    assert "image" not in instance.storage_name  # a random name, not the uploaded one
    assert instance.sha256 == hashlib.sha256(data).hexdigest()
    event = AuditEvent.objects.get(object_type="diagnostics.dicominstance", action="create")
    assert event.patient_id == patient.pk
    assert TimelineEvent.objects.filter(object_id=str(order.pk), to_status=OrderStatus.COLLECTED).count() == 1


def test_more_images_of_the_same_study_extend_it(order, patient, tech):
    first = _ct(patient)
    imaging.upload(actor=tech, order_id=order.pk, file=_file(first))
    second = _ct(patient, study_uid=first.StudyInstanceUID, series_uid=first.SeriesInstanceUID)
    second.InstanceNumber = 2
    imaging.upload(actor=tech, order_id=order.pk, file=_file(second))

    assert ImagingStudy.objects.count() == 1
    assert list(order.study.instances.values_list("instance_number", flat=True)) == [1, 2]
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert len(_stored_files()) == 2


@pytest.mark.parametrize("name", [REAL_NAME, f"LI^JIANHUA={REAL_NAME}", "LI^JIANHUA=李^建华", "李^建华"])
def test_accepted_forms_of_the_real_name(order, patient, tech, name):
    imaging.upload(actor=tech, order_id=order.pk, file=_file(_ct(patient, patient_name=name)))
    assert DicomInstance.objects.count() == 1


def test_other_modalities(patient, doctor, tech):
    xray_order = _order(patient, doctor, modality="DX")
    us_order = _order(patient, doctor, modality="US", kind="functional")
    common = dict(patient_id=patient.mrn, patient_name=REAL_NAME, birth_date=patient.birth_date)
    imaging.upload(actor=tech, order_id=xray_order.pk, file=_file(dicomgen.xray(**common)))
    imaging.upload(actor=tech, order_id=us_order.pk, file=_file(dicomgen.ultrasound(**common)))
    assert ImagingStudy.objects.count() == 2


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.NURSE, Role.PATIENT])
def test_only_technicians_upload(order, patient, role):
    actor = UserFactory() if role == Role.PATIENT else StaffUserFactory(role=role)
    _refused("not_lab_tech", actor=actor, order=order, file=_file(_ct(patient)))


def test_the_ordering_doctor_cannot_upload(order, patient, doctor):
    _refused("not_lab_tech", actor=doctor.user, order=order, file=_file(_ct(patient)))


def test_not_dicom_refused(order, tech):
    _refused("not_dicom", actor=tech, order=order, file=_file(b"%PDF-1.4\n%%EOF\n", name="scan.dcm"))


def test_incomplete_refused(order, patient, tech):
    ds = _ct(patient)
    del ds.PatientBirthDate
    error = _refused("dicom_incomplete", actor=tech, order=order, file=_file(ds))
    assert "PatientBirthDate" in str(error.message)


def test_modality_mismatch(order, patient, tech):
    _refused("modality_mismatch", actor=tech, order=order, file=_file(_ct(patient, modality="MR")))


@pytest.mark.parametrize("change", [
    {"patient_id": "P0000000"},
    {"birth_date": date(1970, 1, 3)},
    {"patient_name": "LI^JIANHUA"},  # pinyin alone is not the real name
    {"patient_name": "王^建华"},
    {"patient_name": "LI^JIANHUA=王建华"},
])
def test_patient_mismatch(order, patient, tech, change):
    _refused("patient_mismatch", actor=tech, order=order, file=_file(_ct(patient, **change)))


def test_another_patients_image_refused(order, patient, tech):
    other = PatientFactory(user__real_name="王芳")
    ds = _ct(patient, patient_id=other.mrn, patient_name="王芳", birth_date=other.birth_date)
    _refused("patient_mismatch", actor=tech, order=order, file=_file(ds))


def test_study_mismatch_stores_nothing_more(order, patient, tech):
    imaging.upload(actor=tech, order_id=order.pk, file=_file(_ct(patient)))
    files = _stored_files()
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=order.pk, file=_file(_ct(patient, study_uid=generate_uid())))
    assert caught.value.code == "study_mismatch"
    assert _stored_files() == files
    assert DicomInstance.objects.count() == 1


def test_a_study_of_another_order_refused(patient, doctor, tech):
    first, second = _order(patient, doctor), _order(patient, doctor)
    ds = _ct(patient)
    imaging.upload(actor=tech, order_id=first.pk, file=_file(ds))
    again = _ct(patient, study_uid=ds.StudyInstanceUID)
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=second.pk, file=_file(again))
    assert caught.value.code == "study_mismatch"
    assert len(_stored_files()) == 1
    second.refresh_from_db()
    assert second.status == OrderStatus.CHECKED_IN


def test_duplicate_instance(order, patient, tech):
    ds = _ct(patient)
    imaging.upload(actor=tech, order_id=order.pk, file=_file(ds))
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=order.pk, file=_file(ds))
    assert caught.value.code == "duplicate_instance"
    assert caught.value.status == 409
    assert len(_stored_files()) == 1
    assert DicomInstance.objects.count() == 1


@pytest.mark.parametrize("status", [OrderStatus.ORDERED, OrderStatus.BOOKED, OrderStatus.RESULTED,
                                    OrderStatus.RELEASED, OrderStatus.CANCELLED])
def test_upload_only_between_check_in_and_report(patient, doctor, tech, status):
    order = _order(patient, doctor, status=status)
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=order.pk, file=_file(_ct(patient)))
    assert caught.value.code == "invalid_transition"
    assert _stored_files() == []
    assert not DicomInstance.objects.exists()


def test_lab_orders_take_no_images(patient, doctor, tech):
    order = _order(patient, doctor, kind="lab", modality="")
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=order.pk, file=_file(_ct(patient)))
    assert caught.value.code == "not_imaging"
    assert _stored_files() == []


def test_unknown_order_is_404(tech, patient):
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=999999, file=_file(_ct(patient)))
    assert caught.value.status == 404
    assert _stored_files() == []
    denied = AuditEvent.objects.get(outcome=AuditOutcome.DENIED)  # kept although the transaction rolled back
    assert (denied.actor, denied.object_id) == (tech, "999999")


def test_too_large_refused_before_reading(order, patient, tech, settings):
    settings.DOCUMENT_MAX_BYTES = 1000
    settings.DICOM_MAX_BYTES = 2000
    _refused("file_too_large", actor=tech, order=order, file=_file(_ct(patient)))  # about 3 KB


def test_empty_file_refused(order, tech):
    _refused("empty_file", actor=tech, order=order, file=_file(b""))


# ---- preview ---------------------------------------------------------------------------------------------------


@pytest.fixture
def instance(order, patient, tech):
    return imaging.upload(actor=tech, order_id=order.pk, file=_file(_ct(patient)))


def _release(order):
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.RELEASED)


def _image(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(png)))


def test_patient_sees_the_preview_only_after_release(instance, order, patient):
    with pytest.raises(DomainError) as caught:
        imaging.preview(actor=patient.user, instance_id=instance.pk)
    assert caught.value.status == 404
    assert AuditEvent.objects.filter(object_type="diagnostics.dicominstance", outcome=AuditOutcome.DENIED,
                                     actor=patient.user).exists()
    _release(order)
    pixels = _image(imaging.preview(actor=patient.user, instance_id=instance.pk))
    assert pixels.shape == (4, 256)
    assert AuditEvent.objects.filter(object_type="diagnostics.dicominstance", action="read",
                                     outcome=AuditOutcome.OK, actor=patient.user).count() == 1


def test_a_proxy_sees_it_after_release(instance, order, patient):
    relative = UserFactory()
    consent = ConsentFactory(patient=patient, kind=ConsentKind.PROXY)
    Proxy.objects.create(patient=patient, proxy_user=relative, relationship="child", status=ProxyStatus.ACTIVE,
                         requested_by=patient.user, consent=consent)
    with pytest.raises(DomainError):
        imaging.preview(actor=relative, instance_id=instance.pk)
    _release(order)
    assert imaging.preview(actor=relative, instance_id=instance.pk).startswith(b"\x89PNG")


def test_another_patient_never_sees_it(instance, order):
    _release(order)
    stranger = PatientFactory()
    with pytest.raises(DomainError) as caught:
        imaging.preview(actor=stranger.user, instance_id=instance.pk)
    assert caught.value.status == 404


def test_ordering_doctor_and_technicians_see_it_with_a_window(instance, doctor, tech):
    default = _image(imaging.preview(actor=doctor.user, instance_id=instance.pk))
    assert default[0, 133] == 128  # the file's window C=40 W=400 at HU 40
    lung = _image(imaging.preview(actor=tech, instance_id=instance.pk, center=-600, width=1500))
    assert lung[0, 0] == 55
    assert lung[0, 147] == 255


def test_other_doctors_do_not_see_it_but_radiologists_do(instance):
    other = PractitionerFactory()
    with pytest.raises(DomainError) as caught:
        imaging.preview(actor=other.user, instance_id=instance.pk)
    assert caught.value.status == 404
    radiologist = PractitionerFactory(departments=[DepartmentFactory(code="radiology")])
    assert imaging.preview(actor=radiologist.user, instance_id=instance.pk).startswith(b"\x89PNG")


def test_nurses_and_unknown_ids_get_404(instance):
    nurse = StaffUserFactory(role=Role.NURSE)
    for actor, instance_id in ((nurse, instance.pk), (StaffUserFactory(role=Role.LAB_TECH), 999999)):
        with pytest.raises(DomainError) as caught:
            imaging.preview(actor=actor, instance_id=instance_id)
        assert caught.value.status == 404


def test_preview_refuses_a_bad_window(instance, doctor):
    with pytest.raises(DomainError) as caught:
        imaging.preview(actor=doctor.user, instance_id=instance.pk, center=40, width=0)
    assert caught.value.code == "invalid_window"


def test_preview_is_bounded(patient, doctor, tech):
    order = _order(patient, doctor)
    big = imaging.upload(actor=tech, order_id=order.pk,
                         file=_file(_ct(patient, rows=300, columns=1200, step=1)))
    image = Image.open(io.BytesIO(imaging.preview(actor=doctor.user, instance_id=big.pk, size=256)))
    assert image.size == (256, 64)


def test_a_tampered_file_is_not_shown(instance, doctor):
    path = dicom_storage.path_of(instance.storage_name)
    path.write_bytes(path.read_bytes()[:-1] + b"\x01")
    with pytest.raises(DomainError) as caught:
        imaging.preview(actor=doctor.user, instance_id=instance.pk)
    assert caught.value.code == "file_corrupted"


# ---- report ----------------------------------------------------------------------------------------------------


def test_the_ordering_doctor_reports(instance, order, doctor):
    study = imaging.report(actor=doctor.user, order_id=order.pk, findings="双肺纹理清晰。", impression="未见异常。")

    order.refresh_from_db()
    assert order.status == OrderStatus.RESULTED
    assert (study.findings, study.impression, study.reported_by) == ("双肺纹理清晰。", "未见异常。", doctor.user)
    assert study.reported_at is not None
    assert AuditEvent.objects.filter(object_type="diagnostics.imagingstudy", action="update").exists()
    assert order.released_at is None  # release is the sign-off, not the report


def test_a_radiologist_reports(instance, order):
    radiologist = PractitionerFactory(departments=[DepartmentFactory(code="radiology")])
    imaging.report(actor=radiologist.user, order_id=order.pk, findings="所见", impression="印象")
    order.refresh_from_db()
    assert order.status == OrderStatus.RESULTED


def test_report_refusals(instance, order, doctor, tech):
    with pytest.raises(DomainError) as caught:
        imaging.report(actor=tech, order_id=order.pk, findings="x", impression="y")
    assert (caught.value.code, caught.value.status) == ("not_a_doctor", 403)
    stranger = PractitionerFactory()
    with pytest.raises(DomainError) as caught:
        imaging.report(actor=stranger.user, order_id=order.pk, findings="x", impression="y")
    assert caught.value.status == 404
    denied = AuditEvent.objects.get(outcome=AuditOutcome.DENIED, actor=stranger.user)
    assert denied.patient_id == order.patient_id
    with pytest.raises(DomainError) as caught:
        imaging.report(actor=doctor.user, order_id=order.pk, findings="  ", impression="y")
    assert caught.value.code == "invalid_report"
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert ImagingStudy.objects.get().reported_at is None


def test_no_report_without_images(order, doctor):
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.COLLECTED)
    with pytest.raises(DomainError) as caught:
        imaging.report(actor=doctor.user, order_id=order.pk, findings="x", impression="y")
    assert caught.value.code == "no_images"


def test_reported_once_and_no_more_images_after(instance, order, patient, doctor, tech):
    imaging.report(actor=doctor.user, order_id=order.pk, findings="x", impression="y")
    with pytest.raises(DomainError) as caught:
        imaging.report(actor=doctor.user, order_id=order.pk, findings="x2", impression="y2")
    assert caught.value.code == "invalid_transition"
    with pytest.raises(DomainError) as caught:
        imaging.upload(actor=tech, order_id=order.pk,
                       file=_file(_ct(patient, study_uid=instance.study.study_uid)))
    assert caught.value.code == "invalid_transition"
    assert ImagingStudy.objects.get().findings == "x"


# ---- concurrency (PostgreSQL) ----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_image_uploaded_at_once_is_stored_once(order, patient, tech):
    """Eight technicians send the same image at the same moment: one row and one file; the rest are duplicates,
    and the order moves to collected once."""
    data = dicomgen.to_bytes(_ct(patient))

    results = run_in_threads(8, lambda i: imaging.upload(actor=tech, order_id=order.pk, file=_file(data)).pk)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 7}, results
    assert {code for kind, code in results if kind == "domain"} == {"duplicate_instance"}
    assert DicomInstance.objects.count() == 1
    assert len(_stored_files()) == 1
    assert TimelineEvent.objects.filter(object_id=str(order.pk), to_status=OrderStatus.COLLECTED).count() == 1
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_images_of_one_study_uploaded_at_once_all_land_in_it(order, patient, tech):
    study_uid = generate_uid()
    files = [dicomgen.to_bytes(_ct(patient, study_uid=study_uid)) for _ in range(6)]

    results = run_in_threads(6, lambda i: imaging.upload(actor=tech, order_id=order.pk, file=_file(files[i])).pk)

    assert all(kind == "ok" for kind, _ in results), results
    assert ImagingStudy.objects.get().instances.count() == 6
    assert len(_stored_files()) == 6
