"""Who may book home nursing, checked at booking with one clear refusal each.

Home nursing (互联网+护理服务) is for people with a record at the hospital who cannot easily come to it: elderly,
disabled or with limited mobility, recovering after discharge, terminally ill, mothers and newborns. The booking
form's claim is checked against what the hospital knows (age from the resident ID, the discharge on the chart,
the birth); what the chart cannot show (a disability, a terminal illness) needs a supporting document, which the
assessing nurse confirms before acceptance. A patient the hospital blocked is refused without saying why.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile, Sex
from ihospital.core.errors import DomainError, Forbidden
from ihospital.records.models import Document, DocumentKind, Encounter, EncounterMode

from .models import EligibleGroup, NursingService
from .selectors import active_block

# What counts as a supporting document for a claim the chart cannot show.
EVIDENCE_KINDS = {
    EligibleGroup.DISABLED: {DocumentKind.DIAGNOSIS_CERTIFICATE, DocumentKind.OUTPATIENT_RECORD,
                             DocumentKind.INPATIENT_RECORD, DocumentKind.DISCHARGE_SUMMARY, DocumentKind.OTHER},
    EligibleGroup.TERMINAL: {DocumentKind.DIAGNOSIS_CERTIFICATE, DocumentKind.INPATIENT_RECORD,
                             DocumentKind.DISCHARGE_SUMMARY, DocumentKind.OUTPATIENT_RECORD},
    EligibleGroup.CONVALESCENT: {DocumentKind.DISCHARGE_SUMMARY, DocumentKind.INPATIENT_RECORD},
    EligibleGroup.MOTHER_NEWBORN: {DocumentKind.DISCHARGE_SUMMARY, DocumentKind.INPATIENT_RECORD,
                                   DocumentKind.DIAGNOSIS_CERTIFICATE},
}


def _home_encounters(patient: PatientProfile):
    return Encounter.objects.filter(patient=patient, entered_in_error=False, facility__kind="home")


def has_hospital_record(patient: PatientProfile) -> bool:
    return _home_encounters(patient).exists()


def last_discharge(patient: PatientProfile) -> date | None:
    stay = _home_encounters(patient).filter(mode=EncounterMode.INPATIENT, ended_at__isnull=False).order_by(
        "-ended_at").first()
    return timezone.localdate(stay.ended_at) if stay else None


def check(*, patient: PatientProfile, service: NursingService, group: str, documents: list[Document],
          on: date | None = None) -> None:
    """Raise the first refusal, or return when the patient may book ``service`` as ``group``."""
    on = on or timezone.localdate()
    if active_block(patient.pk) is not None:
        raise Forbidden("patient_blocked", _("Home nursing cannot be booked for this patient online. Please call "
                                             "the hospital's home nursing office."))
    if not service.active:
        raise DomainError("service_unavailable", _("This service is not offered at the moment."))
    if group not in EligibleGroup.values:
        raise DomainError("invalid_group", _("Please choose why home nursing is needed."), fields={"group": group})
    if group not in service.eligible_groups:
        raise DomainError("service_not_for_group", _("%(service)s is not offered for %(group)s.") % {
            "service": service.name, "group": EligibleGroup(group).label})
    if not has_hospital_record(patient):
        raise Forbidden("no_hospital_record", _("Home nursing is for patients of this hospital: please see a doctor "
                                                "here first, so that your record is at the hospital."),
                        link="/scheduling/")
    age = patient.age(on)
    kinds = {d.kind for d in documents}
    if group == EligibleGroup.ELDERLY and age < settings.HOMECARE_ELDERLY_AGE:
        raise DomainError("not_elderly", _("Home nursing for the elderly starts at %(age)s years of age.") % {
            "age": settings.HOMECARE_ELDERLY_AGE})
    if group == EligibleGroup.CONVALESCENT:
        discharged = last_discharge(patient)
        recent = discharged is not None and on - discharged <= timedelta(days=settings.HOMECARE_DISCHARGE_DAYS)
        if not recent and not kinds & EVIDENCE_KINDS[group]:
            raise DomainError("not_recently_discharged", _(
                "We find no discharge from this hospital in the last %(days)s days. Attach the discharge summary "
                "if you were discharged elsewhere.") % {"days": settings.HOMECARE_DISCHARGE_DAYS})
    if group in (EligibleGroup.DISABLED, EligibleGroup.TERMINAL) and not kinds & EVIDENCE_KINDS[group]:
        raise DomainError("evidence_required", _(
            "Please attach a document that shows this (a disability certificate, a diagnosis certificate or a "
            "hospital record); the assessing nurse checks it."), fields={"documents": _("required")})
    if group == EligibleGroup.MOTHER_NEWBORN:
        newborn = age < 1
        mother = patient.sex == Sex.FEMALE and 14 <= age <= 55 and bool(kinds & EVIDENCE_KINDS[group])
        if not (newborn or mother):
            raise DomainError("not_mother_or_newborn", _(
                "Maternal and newborn care is for babies under one year, and for mothers within %(days)s days of "
                "giving birth (attach the discharge summary of the delivery).") % {
                "days": settings.HOMECARE_POSTPARTUM_DAYS})
