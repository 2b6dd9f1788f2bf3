"""The JSON API of prescriptions and refills: one service or selector call per endpoint.

Every read goes through a selector scoped to the caller (someone else's id answers 404 and is audited); every act
is a service. Refusals are ``{"error": {"code", "message", "fields"}}`` with a 4xx status (see ``ihospital.api``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ninja import Router, Schema, Status

from . import refilling, reviewing, selectors, services

router = Router(tags=["prescriptions"])


def _session(request):
    """The browser session, for the second factor typed at sign-in moments ago; a bearer token has none."""
    return None if getattr(request, "auth_by_token", False) else request.session


def _number(value) -> str | None:
    return None if value is None else f"{value.normalize():f}"


# ---- schemas ----------------------------------------------------------------------------------------------------


class DrugOut(Schema):
    id: int
    sku: str
    name: str
    generic_name_zh: str
    generic_name_en: str
    brand: str
    form: str
    strength: str
    dose_unit: str
    dispensing_unit: str
    package_size: int
    package_unit: str
    price_fen: int
    atc_code: str
    control_class: str
    default_route: str
    max_daily_dose: str | None
    min_age_years: int | None
    chronic: bool
    cold_chain: bool
    online_prescribable: bool

    @staticmethod
    def resolve_max_daily_dose(obj):
        return _number(obj.max_daily_dose)


class ItemDrugOut(Schema):
    """An item of a prescription, named by its drug (what a refill request lists)."""

    id: int
    sku: str
    name: str
    strength: str

    @staticmethod
    def resolve_sku(obj):
        return obj.drug.sku

    @staticmethod
    def resolve_name(obj):
        return obj.drug.name

    @staticmethod
    def resolve_strength(obj):
        return obj.drug.strength


class ItemOut(ItemDrugOut):
    position: int
    drug_id: int
    dose: str
    dose_unit: str
    frequency: str
    route: str
    duration_days: int
    quantity: int
    package_unit: str
    instructions: str

    @staticmethod
    def resolve_dose(obj):
        return _number(obj.dose)

    @staticmethod
    def resolve_package_unit(obj):
        return obj.drug.package_unit


class ReviewOut(Schema):
    id: int
    prescription_id: int
    pharmacist_name: str
    decision: str
    reasons: list[str]
    comment: str
    findings: list[dict]
    seal: str
    created_at: datetime

    @staticmethod
    def resolve_pharmacist_name(obj):
        return obj.pharmacist.real_name


class PrescriptionOut(Schema):
    id: int
    number: str
    patient_id: int
    patient_name: str
    doctor_id: int
    doctor_name: str
    department_id: int
    visit_id: int | None
    condition_id: int
    diagnosis_code: str
    diagnosis_display: str
    kind: str
    refills_allowed: int
    renewal_of_id: int | None
    revision_of_id: int | None
    guardian_name: str
    guardian_relationship: str
    guardian_phone: str
    notes: str
    status: str
    status_label: str
    status_reason: str
    checks: list[dict]
    content_hash: str
    doctor_seal: str
    created_at: datetime
    signed_at: datetime | None
    valid_until: datetime | None
    reviewer_name: str | None
    reviewed_at: datetime | None
    dispensed_at: datetime | None
    total_fen: int
    items: list[ItemOut]
    review: ReviewOut | None

    @staticmethod
    def resolve_patient_name(obj):
        return obj.patient.user.real_name

    @staticmethod
    def resolve_doctor_name(obj):
        return obj.doctor.user.real_name

    @staticmethod
    def resolve_status_label(obj):
        return str(obj.get_status_display())

    @staticmethod
    def resolve_reviewer_name(obj):
        return obj.reviewer.real_name if obj.reviewer_id else None

    @staticmethod
    def resolve_total_fen(obj):
        return obj.total_fen()

    @staticmethod
    def resolve_items(obj):
        # The list selectors prefetch the items with their drugs; a single read loads them here.
        if "items" in getattr(obj, "_prefetched_objects_cache", {}):
            return list(obj.items.all())
        return list(obj.items.select_related("drug"))

    @staticmethod
    def resolve_review(obj):
        from .models import Review

        return Review.objects.select_related("pharmacist").filter(prescription=obj.pk).first()


class FindingOut(Schema):
    key: str
    code: str
    severity: str
    message: str
    sku: str
    override: str


class RefillOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    prescription_id: int
    prescription_number: str
    source_id: int
    diagnosis_code: str
    diagnosis_display: str
    doctor_id: int
    department_id: int
    items: list[ItemDrugOut]
    answers: dict
    red_flags: list[str]
    status: str
    status_label: str
    response: str
    decided_at: datetime | None
    result_id: int | None
    modified: bool
    created_at: datetime

    @staticmethod
    def resolve_patient_name(obj):
        return obj.patient.user.real_name

    @staticmethod
    def resolve_prescription_number(obj):
        return obj.prescription.number

    @staticmethod
    def resolve_diagnosis_code(obj):
        return obj.prescription.diagnosis_code

    @staticmethod
    def resolve_diagnosis_display(obj):
        return obj.prescription.diagnosis_display

    @staticmethod
    def resolve_items(obj):
        return list(obj.items.select_related("drug").order_by("position", "pk"))

    @staticmethod
    def resolve_status_label(obj):
        return str(obj.get_status_display())


class RefillableOut(Schema):
    prescription_id: int
    number: str
    diagnosis_display: str
    latest_id: int
    refills_allowed: int
    refills_used: int
    next_date: date
    can_request: bool
    refusal_code: str | None
    refusal_message: str | None
    open_request_id: int | None

    @staticmethod
    def resolve_prescription_id(obj):
        return obj.root.pk

    @staticmethod
    def resolve_number(obj):
        return obj.root.number

    @staticmethod
    def resolve_diagnosis_display(obj):
        return obj.root.diagnosis_display

    @staticmethod
    def resolve_latest_id(obj):
        return obj.latest.pk

    @staticmethod
    def resolve_refills_allowed(obj):
        return obj.root.refills_allowed

    @staticmethod
    def resolve_refills_used(obj):
        return obj.used

    @staticmethod
    def resolve_can_request(obj):
        return obj.refusal is None and obj.open_request is None

    @staticmethod
    def resolve_refusal_code(obj):
        return obj.refusal.code if obj.refusal is not None else None

    @staticmethod
    def resolve_refusal_message(obj):
        return str(obj.refusal.message) if obj.refusal is not None else None

    @staticmethod
    def resolve_open_request_id(obj):
        return obj.open_request.pk if obj.open_request is not None else None


class MedicineOut(Schema):
    name: str
    detail: str
    until: date | None
    prescription_id: int | None

    @staticmethod
    def resolve_prescription_id(obj):
        return obj.prescription.pk if obj.prescription is not None else None


class VerifyOut(Schema):
    genuine: bool
    tampered: bool | None = None
    number: str | None = None
    status: str | None = None
    status_label: str | None = None
    patient: str | None = None
    doctor: str | None = None
    facility: str | None = None
    signed_at: datetime | None = None
    valid_until: datetime | None = None
    content_hash: str | None = None


class PrescriptionIn(Schema):
    visit_id: int
    kind: str = "acute"
    refills_allowed: int = 0
    notes: str = ""


class PrescriptionPatch(Schema):
    kind: str | None = None
    refills_allowed: int | None = None
    notes: str | None = None
    guardian_name: str | None = None
    guardian_relationship: str | None = None
    guardian_phone: str | None = None


class ItemIn(Schema):
    drug_id: int
    dose: Decimal
    frequency: str
    duration_days: int
    route: str = ""
    quantity: int | None = None
    instructions: str = ""


class SignIn(Schema):
    code: str = ""
    overrides: dict[str, str] = {}


class ReasonIn(Schema):
    reason: str = ""


class ReviewIn(Schema):
    approve: bool
    reasons: list[str] = []
    comment: str = ""
    acknowledge: bool = False


class RefillIn(Schema):
    item_ids: list[int] = []
    answers: dict


# ---- the formulary ------------------------------------------------------------------------------------------


@router.get("/prescriptions/drugs", response=list[DrugOut])
def search_drugs(request, q: str = "", limit: int = 20):
    return list(selectors.search_drugs(q, limit=max(1, min(limit, 50))))


# ---- the pharmacist's worklist (before /prescriptions/{id}, which it must not be mistaken for) ---------------


@router.get("/prescriptions/review/worklist", response=list[PrescriptionOut])
def review_worklist(request):
    return list(selectors.review_worklist(request.auth))


# ---- writing and signing (the doctor) -----------------------------------------------------------------------


@router.get("/prescriptions", response=list[PrescriptionOut])
def my_prescriptions(request):
    """The doctor's own prescriptions, drafts included."""
    return list(selectors.doctor_prescriptions(request.auth)[:200])


@router.post("/prescriptions", response={201: PrescriptionOut})
def start_prescription(request, payload: PrescriptionIn):
    return Status(201, services.start_prescription(actor=request.auth, **payload.dict()))


@router.get("/prescriptions/{prescription_id}", response=PrescriptionOut)
def get_prescription(request, prescription_id: int):
    return selectors.prescription_for(request.auth, prescription_id)[0]


@router.patch("/prescriptions/{prescription_id}", response=PrescriptionOut)
def update_prescription(request, prescription_id: int, payload: PrescriptionPatch):
    return services.update_prescription(actor=request.auth, prescription_id=prescription_id, **payload.dict())


@router.post("/prescriptions/{prescription_id}/items", response={201: ItemOut})
def add_item(request, prescription_id: int, payload: ItemIn):
    return Status(201, services.add_item(actor=request.auth, prescription_id=prescription_id, **payload.dict()))


@router.delete("/prescriptions/{prescription_id}/items/{item_id}", response={204: None})
def remove_item(request, prescription_id: int, item_id: int):
    services.remove_item(actor=request.auth, prescription_id=prescription_id, item_id=item_id)
    return Status(204, None)


@router.get("/prescriptions/{prescription_id}/checks", response=list[FindingOut])
def prescription_checks(request, prescription_id: int):
    return services.check_prescription(actor=request.auth, prescription_id=prescription_id)


@router.post("/prescriptions/{prescription_id}/sign", response=PrescriptionOut)
def sign(request, prescription_id: int, payload: SignIn):
    return services.sign_prescription(
        actor=request.auth, prescription_id=prescription_id, code=payload.code, overrides=payload.overrides,
        session=_session(request),
    )


@router.post("/prescriptions/{prescription_id}/cancel", response=PrescriptionOut)
def cancel(request, prescription_id: int, payload: ReasonIn):
    return services.cancel_prescription(actor=request.auth, prescription_id=prescription_id, reason=payload.reason)


@router.post("/prescriptions/{prescription_id}/revise", response={201: PrescriptionOut})
def revise(request, prescription_id: int):
    return Status(201, services.revise_prescription(actor=request.auth, prescription_id=prescription_id))


# ---- the pharmacist's review ----------------------------------------------------------------------------------


@router.post("/prescriptions/{prescription_id}/claim", response=PrescriptionOut)
def claim(request, prescription_id: int):
    return reviewing.claim_review(actor=request.auth, prescription_id=prescription_id)


@router.post("/prescriptions/{prescription_id}/release", response=PrescriptionOut)
def release(request, prescription_id: int):
    return reviewing.release_review(actor=request.auth, prescription_id=prescription_id)


@router.post("/prescriptions/{prescription_id}/review", response={201: ReviewOut})
def review(request, prescription_id: int, payload: ReviewIn):
    return Status(201, reviewing.review_prescription(actor=request.auth, prescription_id=prescription_id,
                                                    **payload.dict()))


# ---- the patient's side ---------------------------------------------------------------------------------------


@router.get("/patients/{patient_id}/prescriptions", response=list[PrescriptionOut])
def patient_prescriptions(request, patient_id: int):
    return list(selectors.prescriptions_of_patient(request.auth, patient_id))


@router.get("/patients/{patient_id}/medicines", response=list[MedicineOut])
def current_medicines(request, patient_id: int):
    """What the patient takes now. (Not ``/medications``: that path adds a chart medication, in ``records``.)"""
    return selectors.current_medications(request.auth, patient_id)


@router.get("/patients/{patient_id}/refills", response=list[RefillOut])
def patient_refills(request, patient_id: int):
    return list(selectors.refills_of_patient(request.auth, patient_id))


@router.get("/patients/{patient_id}/refillable", response=list[RefillableOut])
def refillable(request, patient_id: int):
    return selectors.refillable_prescriptions(request.auth, patient_id)


@router.post("/prescriptions/{prescription_id}/refills", response={201: RefillOut})
def request_refill(request, prescription_id: int, payload: RefillIn):
    return Status(201, refilling.request_refill(
        actor=request.auth, prescription_id=prescription_id, item_ids=payload.item_ids, answers=payload.answers
    ))


# ---- refill requests (the doctor's worklist; the patient may cancel) ---------------------------------------------


@router.get("/refills/worklist", response=list[RefillOut])
def refill_worklist(request):
    return list(selectors.refill_worklist(request.auth))


@router.get("/refills/{refill_id}", response=RefillOut)
def get_refill(request, refill_id: int):
    return selectors.refill_for(request.auth, refill_id)[0]


@router.post("/refills/{refill_id}/cancel", response=RefillOut)
def cancel_refill(request, refill_id: int):
    return refilling.cancel_refill(actor=request.auth, refill_id=refill_id)


@router.post("/refills/{refill_id}/approve", response={201: PrescriptionOut})
def approve_refill(request, refill_id: int, payload: SignIn):
    return Status(201, refilling.approve_refill(
        actor=request.auth, refill_id=refill_id, code=payload.code, overrides=payload.overrides,
        session=_session(request),
    ))


@router.post("/refills/{refill_id}/modify", response={201: PrescriptionOut})
def modify_refill(request, refill_id: int):
    return Status(201, refilling.modify_refill(actor=request.auth, refill_id=refill_id))


@router.post("/refills/{refill_id}/ask-visit", response=RefillOut)
def ask_visit(request, refill_id: int, payload: ReasonIn):
    return refilling.ask_visit_for_refill(actor=request.auth, refill_id=refill_id, reason=payload.reason)


@router.post("/refills/{refill_id}/refuse", response=RefillOut)
def refuse_refill(request, refill_id: int, payload: ReasonIn):
    return refilling.refuse_refill(actor=request.auth, refill_id=refill_id, reason=payload.reason)


# ---- verifying a slip (anyone holding it; no health data) ----------------------------------------------------------


@router.get("/rx/verify/{number}", auth=None, response=VerifyOut)
def verify(request, number: str, h: str = ""):
    return services.verify_slip(number=number, fingerprint=h)
