"""Imaging studies: technicians upload the DICOM images of an exam, a doctor writes the report, and the people
entitled to the order see server-rendered previews.

Upload (a lab or imaging technician) is refused, with nothing stored, unless the file is a readable DICOM image of
the exam that was ordered (``modality_mismatch``), of this patient (``patient_mismatch``: Patient ID is the MRN, the
birth date matches and the name is the real name — either the whole Patient Name, or one of its component groups,
e.g. the ideographic group of ``LI^JIANHUA=李^建华``, with the ``^`` between family and given name dropped for
Chinese names; a pinyin-only name is not enough), and of the one study the order has (``study_mismatch``); an image
already stored is ``duplicate_instance``. The first image moves the order from checked in to collected.

Previews are for the ordering doctor, radiologists (verified doctors of the ``radiology`` department, for imaging
exams: ``selectors.role_for_order``), technicians, and the patient (or a proxy) once the result is released; anyone
else gets 404, audited.

The report (findings and impression) is written by the ordering doctor or, for an imaging exam, a radiologist and
moves the order to ``resulted``; release to the patient is the ordering doctor's sign-off, elsewhere.
"""

from __future__ import annotations

import math

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import transition

from . import dicom, dicom_storage
from .models import DiagnosticKind, DiagnosticOrder, DicomInstance, ImagingStudy, OrderStatus
from .ordering import doctor_of
from .selectors import ORDER_RELATED, role_for_order

UPLOAD_STATUSES = (OrderStatus.CHECKED_IN, OrderStatus.COLLECTED)
FINDINGS_MAX = 20000


def is_imaging(order: DiagnosticOrder) -> bool:
    return order.test.kind != DiagnosticKind.LAB and bool(order.test.modality)


def name_matches(patient_name, real_name: str) -> bool:
    """Whether a DICOM Patient Name is the patient's real name (see the module docstring)."""
    real = (real_name or "").strip()
    if not real:
        return False
    whole = str(patient_name or "").strip()
    candidates = {whole}
    for group in ("alphabetic", "ideographic", "phonetic"):
        value = getattr(patient_name, group, "") if not isinstance(patient_name, str) else ""
        candidates.add(str(value or "").strip())
    for candidate in list(candidates):
        if _has_cjk(candidate):
            candidates.add(candidate.replace("^", "").replace(" ", "").replace("\u3000", ""))
    return real in candidates


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def upload(*, actor, order_id: int, file) -> DicomInstance:
    """Check and store one DICOM image of an imaging order (see the module docstring for the refusals)."""
    if not getattr(actor, "is_authenticated", False) or actor.role != Role.LAB_TECH:
        raise Forbidden("not_lab_tech", _("Only lab and imaging technicians can upload images."))
    data = dicom_storage.read_upload(file)
    facts = dicom.read(data)
    storage_name = None
    try:
        with transaction.atomic():
            order = _order_for_update(actor, order_id)
            if not is_imaging(order):
                raise DomainError("not_imaging", _("This order is not an imaging exam."))
            if order.status not in UPLOAD_STATUSES:
                raise Conflict("invalid_transition", _("Images can be added only once the patient has checked "
                                                      "in and before the report is written."))
            study = _check(order, facts)
            if study is None:
                study = ImagingStudy.objects.create(order=order, study_uid=facts.study_uid, modality=facts.modality,
                                                    study_date=facts.study_date)
            storage_name, sha256 = dicom_storage.save(data)
            instance = DicomInstance.objects.create(
                study=study,
                sop_instance_uid=facts.sop_instance_uid,
                series_uid=facts.series_uid,
                instance_number=facts.instance_number,
                storage_name=storage_name,
                sha256=sha256,
                rows=facts.rows,
                columns=facts.columns,
                window_center=facts.window_center,
                window_width=facts.window_width,
                uploaded_by=actor,
            )
            if order.status == OrderStatus.CHECKED_IN:
                transition(order, OrderStatus.COLLECTED, actor=actor, reason="first image uploaded")
            audit.record(actor=actor, action=AuditAction.CREATE, obj=instance, patient_id=order.patient_id,
                         detail={"order": order.number, "study_uid": facts.study_uid, "size": len(data),
                                 "sha256": sha256})
    except IntegrityError:
        if storage_name:
            dicom_storage.discard(storage_name)
        raise _duplicate() from None
    except _Denied as denied:
        raise denied.audited(actor) from None
    except BaseException:
        if storage_name:
            dicom_storage.discard(storage_name)
        raise
    return instance


class _Denied(NotFound):
    """Raised inside a transaction; audited (as a denied write) once the transaction has been rolled back, so the
    audit row is kept."""

    def __init__(self, order_id, patient_id=None) -> None:
        super().__init__()
        self.order_id, self.patient_id = order_id, patient_id

    def audited(self, actor) -> NotFound:
        audit.record(actor=actor, action=AuditAction.UPDATE, object_type="diagnostics.diagnosticorder",
                     object_id=self.order_id, patient_id=self.patient_id, outcome=AuditOutcome.DENIED)
        return NotFound()


def _order_for_update(actor, order_id) -> DiagnosticOrder:
    order = (DiagnosticOrder.objects.select_related(*ORDER_RELATED).select_for_update(of=("self",))
             .filter(pk=order_id).first() if isinstance(order_id, int) else None)
    if order is None:
        raise _Denied(order_id)
    return order


def _check(order: DiagnosticOrder, facts: dicom.DicomFacts) -> ImagingStudy | None:
    """Refuse an image that is not of this exam, patient or study; return the order's study, if any."""
    if facts.modality != order.test.modality:
        raise DomainError(
            "modality_mismatch",
            _("The image is %(got)s but the exam ordered is %(want)s.") % {"got": facts.modality,
                                                                          "want": order.test.modality},
            fields={"file": _("wrong modality")},
        )
    patient = order.patient
    if (facts.patient_id != patient.mrn or facts.birth_date != patient.birth_date
            or not name_matches(facts.patient_name, patient.user.real_name)):
        raise DomainError(
            "patient_mismatch",
            _("The patient in the image (ID, name or birth date) is not the patient of this order."),
            fields={"file": _("another patient")},
        )
    study = ImagingStudy.objects.filter(order=order).first()
    if study is not None and study.study_uid != facts.study_uid:
        raise DomainError("study_mismatch", _("This image belongs to another study than the order's."),
                          fields={"file": _("another study")})
    if study is None and ImagingStudy.objects.filter(study_uid=facts.study_uid).exists():
        raise DomainError("study_mismatch", _("This study is already attached to another order."),
                          fields={"file": _("another study")})
    if DicomInstance.objects.filter(sop_instance_uid=facts.sop_instance_uid).exists():
        raise _duplicate()
    return study


def _duplicate() -> Conflict:
    return Conflict("duplicate_instance", _("This image has already been uploaded."))


def preview(*, actor, instance_id: int, center: float | None = None, width: float | None = None,
            size: int = 512) -> bytes:
    """A PNG of one image for someone entitled to the order; 404 (audited) for anyone else."""
    instance = (DicomInstance.objects.select_related("study__order__patient__user", "study__order__doctor__user",
                                                     "study__order__test")
                .filter(pk=instance_id).first() if isinstance(instance_id, int) else None)
    order = instance.study.order if instance is not None else None
    if order is None or not _may_view(actor, order):
        audit.record(actor=actor, action=AuditAction.READ, object_type="diagnostics.dicominstance",
                     object_id=instance_id, patient_id=order.patient_id if order else None,
                     outcome=AuditOutcome.DENIED)
        raise NotFound()
    for value in (center, width):
        if value is not None and (not isinstance(value, int | float) or not math.isfinite(value)):
            raise dicom._invalid_window()
    data = dicom_storage.load(instance.storage_name, instance.sha256)
    png = dicom.render(dicom.read(data).dataset, center=center, width=width, size=size)
    audit.read(actor, instance, patient_id=order.patient_id,
               detail={"order": order.number, "center": center, "width": width, "size": size})
    return png


def _may_view(user, order: DiagnosticOrder) -> bool:
    role = role_for_order(user, order)
    if role == "patient":
        return order.status == OrderStatus.RELEASED
    return role in ("doctor", "radiologist", "lab")


def report(*, actor, order_id: int, findings: str, impression: str) -> ImagingStudy:
    """The ordering doctor or, for an imaging exam, a radiologist reports a collected study; the order becomes
    ``resulted``. Anyone else: 404, audited."""
    doctor = doctor_of(actor)
    if doctor is None:
        raise Forbidden("not_a_doctor", _("Only a doctor can report an imaging study."))
    findings, impression = (findings or "").strip(), (impression or "").strip()
    errors = {}
    if not findings:
        errors["findings"] = _("required")
    if not impression:
        errors["impression"] = _("required")
    if len(findings) > FINDINGS_MAX or len(impression) > FINDINGS_MAX:
        errors.setdefault("findings", _("too long"))
    if errors:
        raise DomainError("invalid_report", _("Write both the findings and the impression."), fields=errors)
    try:
        return _report(actor, doctor, order_id, findings, impression)
    except _Denied as denied:
        raise denied.audited(actor) from None


@transaction.atomic
def _report(actor, doctor, order_id: int, findings: str, impression: str) -> ImagingStudy:
    order = _order_for_update(actor, order_id)
    if role_for_order(actor, order) not in ("doctor", "radiologist"):
        raise _Denied(order.pk, order.patient_id)
    study = ImagingStudy.objects.select_for_update().filter(order=order).first() if is_imaging(order) else None
    if study is None or not study.instances.exists():
        raise Conflict("no_images", _("There are no images to report yet."))
    transition(order, OrderStatus.RESULTED, actor=actor, reason="imaging report")
    study.findings, study.impression = findings, impression
    study.reported_by, study.reported_at = actor, timezone.now()
    study.save(update_fields=["findings", "impression", "reported_by", "reported_at"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=study, patient_id=order.patient_id,
                 detail={"order": order.number, "reported": True})
    return study
