"""factory-boy factories for the online-visit tests: chart entries that make (or fail to make) a follow-up basis
and the doctor's consultation day. Slots come from the scheduling tests' factories.

The default ``ConditionFactory`` is the one basis the rules accept: a confirmed, active diagnosis recorded at an
in-person encounter at the home hospital. Its traits each break exactly one of those facts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ihospital.records.models import (
    ClinicalStatus,
    Condition,
    Document,
    DocumentKind,
    Encounter,
    EncounterMode,
    Verification,
)
from ihospital.visits.models import ConsultationDay
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    FacilityFactory,
    PatientFactory,
    TOTPDeviceFactory,
)
from tests.scheduling.factories import SlotFactory

__all__ = [
    "ConditionFactory",
    "ConsultationDayFactory",
    "DocumentFactory",
    "EncounterFactory",
    "SlotFactory",  # the scheduling tests' own: an open 30-minute text slot tomorrow, one place
    "online_doctor",
]


class EncounterFactory(DjangoModelFactory):
    """An in-person clinic visit at the home hospital, a month ago, recorded by its doctor."""

    class Meta:
        model = Encounter

    patient = factory.SubFactory(PatientFactory)
    practitioner = factory.SubFactory(DoctorFactory)
    recorded_by = factory.LazyAttribute(lambda o: o.practitioner.user)
    mode = EncounterMode.IN_PERSON
    facility = factory.LazyAttribute(lambda o: o.practitioner.facility)
    department = factory.LazyAttribute(lambda o: o.practitioner.departments.first())
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    ended_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(minutes=15))
    reason = "血压控制不佳"
    summary = "原发性高血压，继续服药"

    class Params:
        # Seen at a partner facility, not at the home hospital.
        partner = factory.Trait(
            # The doctor's department is made at the doctor's (partner) facility.
            practitioner=factory.SubFactory(DoctorFactory, facility=factory.SubFactory(FacilityFactory)),
        )
        online = factory.Trait(mode=EncounterMode.ONLINE)


class ConditionFactory(DjangoModelFactory):
    """A definite in-person diagnosis (I10 essential hypertension): a valid basis for an online follow-up."""

    class Meta:
        model = Condition

    patient = factory.SubFactory(PatientFactory)
    encounter = factory.SubFactory(EncounterFactory, patient=factory.SelfAttribute("..patient"))
    recorded_by = factory.LazyAttribute(lambda o: o.encounter.recorded_by if o.encounter else o.patient.user)
    code = "I10"
    display = "特发性（原发性）高血压"
    verification = Verification.CONFIRMED
    clinical_status = ClinicalStatus.ACTIVE
    chronic = True

    class Params:
        patient_reported = factory.Trait(encounter=None, verification=Verification.PATIENT_REPORTED)
        provisional = factory.Trait(verification=Verification.PROVISIONAL)
        resolved = factory.Trait(clinical_status=ClinicalStatus.RESOLVED)
        at_partner = factory.Trait(
            encounter=factory.SubFactory(EncounterFactory, patient=factory.SelfAttribute("..patient"), partner=True)
        )
        from_online_encounter = factory.Trait(
            encounter=factory.SubFactory(EncounterFactory, patient=factory.SelfAttribute("..patient"), online=True)
        )
        withdrawn = factory.Trait(entered_in_error=True, error_reason="wrong patient")


class DocumentFactory(DjangoModelFactory):
    """A document row as ``records.services.upload_document`` leaves it (no file on disk: never downloaded here)."""

    class Meta:
        model = Document

    patient = factory.SubFactory(PatientFactory)
    recorded_by = factory.LazyAttribute(lambda o: o.patient.user)
    kind = DocumentKind.DISCHARGE_SUMMARY
    title = "出院小结"
    original_name = "discharge.pdf"
    storage_name = factory.LazyFunction(lambda: f"{uuid.uuid4().hex}.pdf")
    content_type = "application/pdf"
    size = 1234
    sha256 = factory.LazyFunction(lambda: uuid.uuid4().hex * 2)


class ConsultationDayFactory(DjangoModelFactory):
    """The doctor confirmed their second factor today (what ``services.start_consultation_day`` records)."""

    class Meta:
        model = ConsultationDay
        django_get_or_create = ("practitioner", "date")

    practitioner = factory.SubFactory(DoctorFactory)
    date = factory.LazyFunction(timezone.localdate)
    verified_at = factory.LazyFunction(timezone.now)


def online_doctor(department=None, *, consulting: bool = True, **kwargs):
    """A doctor of ``department`` with an authenticator and (unless told otherwise) today's consultation day."""
    department = department or DepartmentFactory()
    practitioner = DoctorFactory(departments=[department], facility=department.facility, **kwargs)
    TOTPDeviceFactory(user=practitioner.user)
    if consulting:
        ConsultationDayFactory(practitioner=practitioner)
    return practitioner
