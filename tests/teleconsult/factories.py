"""Factories of the consultation tests: partner doctors with a patient in their care, the home hospital's
experts and coordinators, tariffs, draft requests, and helpers that walk a request through the workflow with the
real services (``submitted_request``, ``assigned_request``, ``in_review_request``).

Staff made here have a confirmed TOTP device (``user.totpdevice_set.get()``), so page tests can sign them in and
``tests.helpers.verify_session`` them, and the lead expert can sign a report with ``current_code(device)``.

Other helpers: add your own factories at the END of this file, below the marked line, and only append.
"""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ihospital.accounts.models import Role
from ihospital.directory.models import Title
from ihospital.records.models import CareRelationship, CareSource
from ihospital.teleconsult.models import ConsultRequest, Mode, Tariff, Urgency
from tests.factories import (
    DepartmentFactory,
    FacilityFactory,
    HomeFacilityFactory,
    PatientFactory,
    PractitionerFactory,
    StaffUserFactory,
    TOTPDeviceFactory,
)


def with_device(user):
    """Give a staff user a confirmed TOTP device (once)."""
    if not user.totpdevice_set.exists():
        TOTPDeviceFactory(user=user)
    return user


def device_of(user):
    return user.totpdevice_set.get()


def put_in_care(clinician, patient, *, source: str = CareSource.MANUAL) -> CareRelationship:
    """The patient is in this clinician's care (what a visit or an encounter at their hospital grants)."""
    rel, _ = CareRelationship.objects.get_or_create(
        patient=patient, clinician=clinician, source=source, source_id="teleconsult-test",
        defaults={"starts_at": timezone.now() - timedelta(days=1)},
    )
    return rel


class PartnerFacilityFactory(FacilityFactory):
    """A partner (e.g. county) hospital."""


class PartnerDoctorFactory(PractitionerFactory):
    """A verified attending doctor at a partner hospital (a Practitioner; ``.user`` signs in).
    ``PartnerDoctorFactory(patients=[patient])`` puts those patients in their care."""

    facility = factory.SubFactory(PartnerFacilityFactory)
    title = Title.ATTENDING

    @factory.post_generation
    def departments(self, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            extracted = [DepartmentFactory(facility=self.facility)]
        self.departments.set(extracted)

    @factory.post_generation
    def patients(self, create, extracted, **kwargs):
        if create:
            for patient in extracted or ():
                put_in_care(self.user, patient)

    @factory.post_generation
    def device(self, create, extracted, **kwargs):
        if create and extracted is not False:
            with_device(self.user)


class ExpertFactory(PractitionerFactory):
    """A verified chief physician of the home hospital, in one home department (pass ``departments=[dept]``)."""

    facility = factory.SubFactory(HomeFacilityFactory)
    title = Title.CHIEF

    @factory.post_generation
    def device(self, create, extracted, **kwargs):
        if create and extracted is not False:
            with_device(self.user)


class CoordinatorFactory(StaffUserFactory):
    """A consultation coordinator of the home hospital (a User, verified StaffProfile, TOTP device)."""

    role = Role.COORDINATOR
    real_name = factory.Sequence(lambda n: f"协调员{n}")

    @factory.post_generation
    def device(self, create, extracted, **kwargs):
        if create and extracted is not False:
            with_device(self)


class AdminFactory(StaffUserFactory):
    """A hospital administrator (medical affairs office): level-2 escalations and statements."""

    role = Role.ADMIN
    real_name = factory.Sequence(lambda n: f"医务处{n}")

    @factory.post_generation
    def device(self, create, extracted, **kwargs):
        if create and extracted is not False:
            with_device(self)


class TariffFactory(DjangoModelFactory):
    class Meta:
        model = Tariff

    facility = factory.SubFactory(PartnerFacilityFactory)
    urgency = Urgency.ROUTINE
    mode = Mode.ASYNC
    fee_fen = 50000
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=30))


def tariffs_for(facility, *, fee_fen: int = 50000) -> list[Tariff]:
    """A tariff for every urgency and mode at this partner facility (valid since a month ago)."""
    return [
        Tariff.objects.get_or_create(
            facility=facility, urgency=u, mode=m, valid_from=timezone.localdate() - timedelta(days=30),
            defaults={"fee_fen": fee_fen},
        )[0]
        for u in Urgency.values for m in Mode.values
    ]


class ConsultRequestFactory(DjangoModelFactory):
    """A draft request by a partner doctor who has the patient in care (no consent, no attachments).
    Prefer ``draft_request``/``submitted_request`` which use the real services."""

    class Meta:
        model = ConsultRequest

    patient = factory.SubFactory(PatientFactory)
    referring_doctor = factory.LazyAttribute(lambda o: PartnerDoctorFactory(patients=[o.patient]).user)
    referring_facility = factory.LazyAttribute(lambda o: o.referring_doctor.practitioner.facility)
    number = factory.Sequence(lambda n: f"TC20000101-{n:04d}")
    question = "是否需要介入治疗？"
    summary = "男，68岁，反复胸闷3月，心电图ST段压低。"
    urgency = Urgency.ROUTINE
    mode = Mode.ASYNC


# ---- walking a request through the workflow with the real services ---------------------------------------------


def draft_request(*, patient=None, referrer=None, department=None, named_expert=None,
                  urgency: str = Urgency.ROUTINE, mode: str = Mode.ASYNC,
                  question: str = "是否需要介入治疗？", summary: str = "男，68岁，反复胸闷3月，心电图ST段压低。"):
    """A draft made by ``requests.create_request``. ``referrer`` is a partner doctor's User (made, with the
    patient in care, when not given); ``department`` defaults to a new home department."""
    from ihospital.teleconsult import requests

    patient = patient or PatientFactory()
    if referrer is None:
        referrer = PartnerDoctorFactory(patients=[patient]).user
    else:
        put_in_care(referrer, patient)
    if department is None and named_expert is None:
        department = DepartmentFactory(facility=HomeFacilityFactory())
    return requests.create_request(
        actor=referrer, patient_id=patient.pk, question=question, summary=summary, urgency=urgency, mode=mode,
        department_id=department.pk if department else None,
        named_expert_id=named_expert.pk if named_expert else None,
    )


def consented(request):
    """The patient gives the record-sharing consent for the request."""
    from ihospital.teleconsult import requests

    requests.give_consent(actor=request.patient.user, request_id=request.pk)
    request.refresh_from_db()
    return request


def submitted_request(*, fee_fen: int = 50000, **kwargs):
    """A sent request (consent given, tariffs in force at the referring facility). Takes ``draft_request``'s
    arguments."""
    from ihospital.teleconsult import requests

    request = consented(draft_request(**kwargs))
    tariffs_for(request.referring_facility, fee_fen=fee_fen)
    requests.submit(actor=request.referring_doctor, request_id=request.pk)
    request.refresh_from_db()
    return request


def assigned_request(*, lead=None, members=(), coordinator=None, **kwargs):
    """A request assigned by a coordinator to ``lead`` (an expert's User; made in the request's department when
    not given) and ``members``. Returns the request; its experts are ``request.assignments``."""
    from ihospital.teleconsult import triage

    request = submitted_request(**kwargs)
    coordinator = coordinator or CoordinatorFactory()
    if lead is None:
        depts = [request.department] if request.department_id else None
        lead = ExpertFactory(departments=depts).user
    triage.assign(actor=coordinator, request_id=request.pk, expert_id=lead.pk, role="lead")
    for member in members:
        triage.assign(actor=coordinator, request_id=request.pk, expert_id=member.pk, role="member")
    request.refresh_from_db()
    return request


def in_review_request(*, accept_all: bool = True, **kwargs):
    """An assigned request whose lead (and, with ``accept_all``, every member) has accepted."""
    from ihospital.teleconsult import triage

    request = assigned_request(**kwargs)
    for assignment in request.assignments.filter(ended_at__isnull=True).order_by("assigned_at"):
        if accept_all or assignment.role == "lead":
            triage.accept_assignment(actor=assignment.expert, request_id=request.pk)
    request.refresh_from_db()
    return request


def lead_of(request):
    return request.assignments.get(ended_at__isnull=True, role="lead").expert


# ================================================================================================================
# Other helpers' factories go below this line (append only).
# ================================================================================================================
