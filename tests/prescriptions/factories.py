"""factory-boy factories for the formulary, and short ways through the prescription workflow (all through the
services, like ``tests/visits/flows.py`` for visits).

``DrugFactory`` makes an ordinary oral tablet a doctor may prescribe online; its traits each add one property the
rules or checks look at (a control class, cold chain, a minimum age, a maximum daily dose). The named drugs
(``amlodipine()``...) are get-or-create by SKU, so a test and its fixtures can ask for the same one.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ihospital.accounts.models import Role
from ihospital.accounts.services import SECOND_FACTOR_AT
from ihospital.prescriptions import refilling, reviewing, services
from ihospital.prescriptions.models import (
    AllergyGroup,
    ControlClass,
    Drug,
    Form,
    Interaction,
    Prescription,
    RefillRequest,
    Route,
    RxKind,
    Severity,
)
from ihospital.scheduling.models import Slot, VisitMode
from tests.factories import StaffUserFactory, TOTPDeviceFactory
from tests.visits import flows
from tests.visits.factories import ConditionFactory


class DrugFactory(DjangoModelFactory):
    """An ordinary 5 mg tablet, 28 to a box, taken by mouth."""

    class Meta:
        model = Drug
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"T-{n:05d}")
    generic_name_zh = factory.Sequence(lambda n: f"测试药{n}片")
    generic_name_en = factory.Sequence(lambda n: f"Testdrug{n} tablets")
    brand_name_zh = ""
    brand_name_en = ""
    form = Form.TABLET
    strength = "5 mg"
    dose_unit = "mg"
    unit_amount = Decimal(5)
    dispensing_unit = "tablet"
    package_size = 28
    package_unit = "box"
    price_fen = 1500
    atc_code = factory.Sequence(lambda n: f"Z{n % 100:02d}ZZ{n % 100:02d}")
    control_class = ControlClass.ORDINARY
    default_route = Route.ORAL
    max_daily_dose = None
    min_age_years = None
    chronic = True
    cold_chain = False
    allergy_groups = ""
    area = "test"
    active = True

    class Params:
        narcotic = factory.Trait(control_class=ControlClass.NARCOTIC)
        psychotropic_1 = factory.Trait(control_class=ControlClass.PSYCHOTROPIC_1)
        psychotropic_2 = factory.Trait(control_class=ControlClass.PSYCHOTROPIC_2)
        toxic = factory.Trait(control_class=ControlClass.TOXIC)
        radioactive = factory.Trait(control_class=ControlClass.RADIOACTIVE)
        precursor = factory.Trait(control_class=ControlClass.PRECURSOR)
        special_antimicrobial = factory.Trait(control_class=ControlClass.SPECIAL_ANTIMICROBIAL)
        # Insulin: a pen kept at 2–8 °C, dosed in units.
        cold_chain_pen = factory.Trait(
            cold_chain=True, form=Form.PEN, strength="300 U/3 ml", dose_unit="U", unit_amount=Decimal(300),
            dispensing_unit="pen", package_size=1, package_unit="pen", default_route=Route.SUBCUTANEOUS,
        )
        adults_only = factory.Trait(min_age_years=18)
        max_10_a_day = factory.Trait(max_daily_dose=Decimal(10))
        retired = factory.Trait(active=False)


class InteractionFactory(DjangoModelFactory):
    class Meta:
        model = Interaction
        django_get_or_create = ("atc_a", "atc_b")

    atc_a = "C10AA01"
    atc_b = "J01FA09"
    severity = Severity.CONTRAINDICATED
    effect_zh = "他汀血药浓度升高，横纹肌溶解风险"
    effect_en = "raises the statin's level: risk of rhabdomyolysis"
    advice_zh = "换用阿奇霉素或暂停他汀"
    advice_en = "use azithromycin or pause the statin"
    source = "test table"


class AllergyGroupFactory(DjangoModelFactory):
    class Meta:
        model = AllergyGroup
        django_get_or_create = ("key",)

    key = "penicillins"
    label_zh = "青霉素类"
    label_en = "penicillins"
    keywords = "青霉素;penicillin;阿莫西林;amoxicillin;氨苄西林;ampicillin"


# ---- named drugs of the tests (realistic enough for the checks) ----------------------------------------------


def amlodipine() -> Drug:
    return DrugFactory(
        sku="CV-AML-5", generic_name_zh="苯磺酸氨氯地平片", generic_name_en="Amlodipine besylate tablets",
        brand_name_zh="络活喜", brand_name_en="Norvasc", atc_code="C08CA01", max_daily_dose=Decimal(10),
        area="cardiovascular",
    )


def nifedipine() -> Drug:
    return DrugFactory(
        sku="CV-NIF-30", generic_name_zh="硝苯地平控释片", generic_name_en="Nifedipine controlled-release tablets",
        form=Form.SUSTAINED_RELEASE_TABLET, strength="30 mg", unit_amount=Decimal(30), package_size=7,
        atc_code="C08CA05", max_daily_dose=Decimal(120), area="cardiovascular",
    )


def simvastatin() -> Drug:
    return DrugFactory(
        sku="CV-SIM-20", generic_name_zh="辛伐他汀片", generic_name_en="Simvastatin tablets", strength="20 mg",
        unit_amount=Decimal(20), atc_code="C10AA01", max_daily_dose=Decimal(80), area="cardiovascular",
    )


def clarithromycin() -> Drug:
    return DrugFactory(
        sku="AB-CLA-250", generic_name_zh="克拉霉素片", generic_name_en="Clarithromycin tablets", strength="250 mg",
        unit_amount=Decimal(250), package_size=6, atc_code="J01FA09", chronic=False, area="antibiotics",
    )


def amoxicillin() -> Drug:
    AllergyGroupFactory()
    return DrugFactory(
        sku="AB-AMX-500", generic_name_zh="阿莫西林胶囊", generic_name_en="Amoxicillin capsules",
        form=Form.CAPSULE, strength="500 mg", unit_amount=Decimal(500), dispensing_unit="capsule",
        package_size=24, atc_code="J01CA04", chronic=False, allergy_groups="penicillins", area="antibiotics",
    )


def metformin() -> Drug:
    return DrugFactory(
        sku="DM-MET-500", generic_name_zh="盐酸二甲双胍片", generic_name_en="Metformin hydrochloride tablets",
        strength="500 mg", unit_amount=Decimal(500), package_size=48, atc_code="A10BA02",
        max_daily_dose=Decimal(2000), area="diabetes",
    )


# ---- people ----------------------------------------------------------------------------------------------------


def pharmacist_user():
    """A pharmacist with an authenticator (a socket or a session needs the second factor)."""
    user = StaffUserFactory(role=Role.PHARMACIST)
    TOTPDeviceFactory(user=user)
    return user


def fresh_session() -> dict:
    """A session in which the second factor was typed moments ago: signing needs no second code."""
    return {SECOND_FACTOR_AT: timezone.now().isoformat()}


# ---- the workflow ------------------------------------------------------------------------------------------------


_slot_hours = itertools.count()


def slot_of(doctor) -> Slot:
    """An open slot of ``doctor`` within the next days. (Not ``SlotFactory``: its sequence puts each slot an hour
    after the previous one in the whole session, and the hundreds of visits here would push the visit tests' slots
    past the booking horizon.)"""
    starts_at = timezone.now().replace(second=0, microsecond=0) + timedelta(days=1, hours=next(_slot_hours) % 200)
    return Slot.objects.create(practitioner=doctor, department=doctor.departments.first(), starts_at=starts_at,
                               ends_at=starts_at + timedelta(minutes=30), mode=VisitMode.TEXT, capacity=1)


def visit_in_progress(patient, doctor, condition=None):
    """An online visit of ``patient`` with ``doctor`` (a doctor from ``online_doctor``), started, for an accepted
    in-person diagnosis (hypertension unless given)."""
    condition = condition or ConditionFactory(patient=patient)
    return flows.start(flows.book(patient, slot_of(doctor), condition), doctor)


def item(drug: Drug, **kw) -> dict:
    """An item's arguments: one dose a day for 28 days unless told otherwise."""
    return {"drug_id": drug.pk, "dose": kw.pop("dose", drug.unit_amount), "frequency": kw.pop("frequency", "qd"),
            "duration_days": kw.pop("duration_days", 28), **kw}


def draft(doctor, visit, *items: dict, kind: str = RxKind.CHRONIC, refills_allowed: int = 0, **kw) -> Prescription:
    rx = services.start_prescription(actor=doctor.user, visit_id=visit.pk, kind=kind,
                                     refills_allowed=refills_allowed, **kw)
    for arguments in items:
        services.add_item(actor=doctor.user, prescription_id=rx.pk, **arguments)
    return rx


def sign(doctor, rx: Prescription, overrides: dict | None = None) -> Prescription:
    return services.sign_prescription(actor=doctor.user, prescription_id=rx.pk, session=fresh_session(),
                                      overrides=overrides)


def approve(pharmacist, rx: Prescription) -> Prescription:
    reviewing.review_prescription(actor=pharmacist, prescription_id=rx.pk, approve=True, acknowledge=True)
    rx.refresh_from_db()
    return rx


def reject(pharmacist, rx: Prescription, comment: str = "剂量过大，请调整") -> Prescription:
    reviewing.review_prescription(actor=pharmacist, prescription_id=rx.pk, approve=False, reasons=["dose"],
                                 comment=comment)
    rx.refresh_from_db()
    return rx


def signed(doctor, patient, *items: dict, condition=None, **kw) -> Prescription:
    """A prescription written in a new visit and signed (amlodipine 5 mg qd × 28 days unless items are given)."""
    visit = visit_in_progress(patient, doctor, condition)
    rx = draft(doctor, visit, *(items or (item(amlodipine()),)), **kw)
    return sign(doctor, rx)


def monthly(doctor, patient, pharmacist, *items: dict, refills: int = 2, condition=None) -> Prescription:
    """The seed's story: a chronic prescription with refills, signed and approved by the pharmacist."""
    return approve(pharmacist, signed(doctor, patient, *items, condition=condition, refills_allowed=refills))


def make_due(rx: Prescription, *, days_ago: int = 25) -> Prescription:
    """Pretend the prescription was signed ``days_ago`` days ago (a 28-day supply is then due for a refill)."""
    Prescription.objects.filter(pk=rx.pk).update(signed_at=timezone.now() - timedelta(days=days_ago))
    rx.refresh_from_db()
    return rx


ANSWERS = {"new_symptoms": False, "side_effects": False, "adherence": "all", "systolic": 132, "diastolic": 84}


def answers(**changes) -> dict:
    return {**ANSWERS, **changes}


def refill(rx: Prescription, actor=None, **kw) -> RefillRequest:
    return refilling.request_refill(actor=actor or rx.patient.user, prescription_id=rx.pk,
                                   answers=kw.pop("answers", answers()), **kw)


def approve_refill(doctor, request: RefillRequest, overrides: dict | None = None) -> Prescription:
    return refilling.approve_refill(actor=doctor.user, refill_id=request.pk, session=fresh_session(),
                                   overrides=overrides)



# ---- asserting refusals -----------------------------------------------------------------------------------------

PRESCRIPTION_MODELS = [
    "prescriptions.Prescription",
    "prescriptions.PrescriptionItem",
    "prescriptions.Review",
    "prescriptions.RefillRequest",
    "notifications.Notification",
    "records.CareRelationship",
    "core.TimelineEvent",
]


def state() -> dict:
    """Everything a refused act must leave alone: row counts, and each prescription's and request's status and
    content (so "nothing changed" covers updates as well as inserts). The audit log is left out: a refused read
    is itself recorded there."""
    from django.apps import apps

    from ihospital.prescriptions.models import PrescriptionItem
    from tests.helpers import counts

    snapshot: dict = counts()
    snapshot.update({label: apps.get_model(label).objects.count() for label in PRESCRIPTION_MODELS})
    snapshot["prescriptions"] = sorted(Prescription.objects.values_list(
        "pk", "status", "kind", "refills_allowed", "content_hash", "signed_at", "reviewer_id", "notes",
        "guardian_name",
    ))
    snapshot["items"] = sorted(PrescriptionItem.objects.values_list(
        "pk", "drug_id", "dose", "frequency", "route", "duration_days", "quantity",
    ))
    snapshot["refills"] = sorted(RefillRequest.objects.values_list("pk", "status", "result_id", "response"))
    return snapshot


def refused(code: str, fn, /, *args, **kwargs):
    """Call ``fn`` and return the ``DomainError`` it must raise with ``code`` (state unchanged is checked by the
    caller with ``state()``)."""
    import pytest

    from ihospital.core.errors import DomainError

    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, (caught.value.code, str(caught.value.message))
    return caught.value


def code_of(user) -> str:
    """The code the user's authenticator shows now, accepted even when one was already typed in this 30-second step
    (django-otp refuses a step twice; a test that signs twice would otherwise wait for the next one)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.helpers import current_code

    TOTPDevice.objects.filter(user=user).update(last_t=-1, throttling_failure_count=0,
                                                throttling_failure_timestamp=None)
    return current_code(TOTPDevice.objects.get(user=user))
