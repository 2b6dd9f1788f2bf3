"""The formulary, prescriptions and their items, refill requests and the pharmacist's review (审方).

A prescription's life in one place::

    draft ──sign──▶ signed ──claim──▶ under_review ──approve──▶ approved ──dispense──▶ dispensed
      │               │  ╲               │   ╲                     │
      │               │   ╲─approve/reject (a pharmacist may     ├─cancel─▶ cancelled
      │               │      decide straight from the worklist)  └─(valid_until passes)─▶ expired
      └─cancel─▶ cancelled           └─reject─▶ rejected  (the doctor revises: a new draft, ``revision_of``)

Signed prescriptions are immutable: their content is hashed at signing (``content_hash``) and sealed with the
doctor's personal, second-factor-confirmed act (``doctor_seal``); the slip shows both and its QR code lets
anyone check them. A refill is a new prescription linked to the original (``renewal_of``).

Refill requests::

    requested ──approve──▶ approved           (a new signed prescription, ``result``)
        │  ╲──modify──▶ drafting ──sign──▶ approved (modified)
        ├─ask_visit─▶ visit_needed           drafting ──refuse──▶ refused
        ├─refuse─▶ refused
        └─cancel─▶ cancelled (by the patient)
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.directory.models import Department, Practitioner
from ihospital.records.models import Condition

# ---- the formulary --------------------------------------------------------------------------------------------


class ControlClass(models.TextChoices):
    ORDINARY = "ordinary", _("ordinary")
    NARCOTIC = "narcotic", _("narcotic drug (麻醉药品)")
    PSYCHOTROPIC_1 = "psychotropic_1", _("class I psychotropic (第一类精神药品)")
    PSYCHOTROPIC_2 = "psychotropic_2", _("class II psychotropic (第二类精神药品)")
    TOXIC = "toxic", _("toxic drug for medical use (医疗用毒性药品)")
    RADIOACTIVE = "radioactive", _("radioactive drug (放射性药品)")
    PRECURSOR = "precursor", _("precursor chemical (药品类易制毒化学品)")
    SPECIAL_ANTIMICROBIAL = "special_antimicrobial", _("special-use antimicrobial (特殊使用级抗菌药物)")


# Never prescribable online (互联网诊疗监管细则（试行） art. 20; design.md "Prescribing online").
ONLINE_PROHIBITED = frozenset(set(ControlClass.values) - {ControlClass.ORDINARY})


class Form(models.TextChoices):
    TABLET = "tablet", _("tablet")
    SUSTAINED_RELEASE_TABLET = "sustained_release_tablet", _("sustained-release tablet")
    CAPSULE = "capsule", _("capsule")
    GRANULES = "granules", _("granules")
    ORAL_SOLUTION = "oral_solution", _("oral solution")
    INJECTION = "injection", _("injection")
    PEN = "pen", _("injection pen")
    INHALER = "inhaler", _("inhaler")
    CREAM = "cream", _("cream")
    OINTMENT = "ointment", _("ointment")
    LOTION = "lotion", _("lotion")
    EYE_DROPS = "eye_drops", _("eye drops")
    PATCH = "patch", _("patch")
    SUPPOSITORY = "suppository", _("suppository")


class Route(models.TextChoices):
    ORAL = "oral", _("by mouth")
    SUBLINGUAL = "sublingual", _("under the tongue")
    INHALED = "inhaled", _("inhaled")
    TOPICAL = "topical", _("on the skin")
    SUBCUTANEOUS = "subcutaneous", _("under the skin (injection)")
    INTRAMUSCULAR = "intramuscular", _("into a muscle (injection)")
    INTRAVENOUS = "intravenous", _("into a vein")
    OPHTHALMIC = "ophthalmic", _("into the eye")
    RECTAL = "rectal", _("rectal")
    TRANSDERMAL = "transdermal", _("patch on the skin")
    NASAL = "nasal", _("into the nose")


class Drug(models.Model):
    """One product of the hospital's formulary. Dosing is counted in ``dose_unit``; one dispensing unit (a
    tablet, a ml, a puff, a tube) holds ``unit_amount`` of it, and a package holds ``package_size`` units."""

    sku = models.CharField(_("stock-keeping code"), max_length=32, unique=True)
    generic_name_zh = models.CharField(_("generic name (Chinese)"), max_length=128)
    generic_name_en = models.CharField(_("generic name (English)"), max_length=128)
    brand_name_zh = models.CharField(_("brand name (Chinese)"), max_length=64, blank=True)
    brand_name_en = models.CharField(_("brand name (English)"), max_length=64, blank=True)
    form = models.CharField(_("form"), max_length=32, choices=Form.choices)
    strength = models.CharField(_("strength"), max_length=64)
    dose_unit = models.CharField(_("dose unit"), max_length=16)
    unit_amount = models.DecimalField(_("dose units per dispensing unit"), max_digits=12, decimal_places=3)
    dispensing_unit = models.CharField(_("dispensing unit"), max_length=16)
    package_size = models.PositiveIntegerField(_("dispensing units per package"))
    package_unit = models.CharField(_("package"), max_length=16)
    price_fen = models.PositiveIntegerField(_("price per package (fen)"))
    atc_code = models.CharField(_("ATC code"), max_length=7, db_index=True)
    control_class = models.CharField(_("control class"), max_length=24, choices=ControlClass.choices)
    default_route = models.CharField(_("route"), max_length=16, choices=Route.choices)
    max_daily_dose = models.DecimalField(
        _("maximum daily dose"), max_digits=12, decimal_places=3, null=True, blank=True,
        help_text=_("in the dose unit, from the product label"),
    )
    min_age_years = models.PositiveSmallIntegerField(_("minimum age (years)"), null=True, blank=True)
    chronic = models.BooleanField(_("for long-term use"), default=False)
    cold_chain = models.BooleanField(_("cold chain (2–8 °C)"), default=False)
    allergy_groups = models.CharField(_("allergy groups"), max_length=128, blank=True, help_text="semicolon list")
    area = models.CharField(_("therapeutic area"), max_length=24, blank=True)
    active = models.BooleanField(_("in the formulary"), default=True)

    class Meta:
        ordering = ["area", "generic_name_en"]
        verbose_name = _("drug")
        verbose_name_plural = _("drugs")
        constraints = [
            models.CheckConstraint(condition=models.Q(unit_amount__gt=0), name="drug_unit_amount_positive"),
            models.CheckConstraint(condition=models.Q(package_size__gt=0), name="drug_package_size_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.strength}"

    @property
    def name(self) -> str:
        if (get_language() or "").startswith("zh"):
            return self.generic_name_zh
        return self.generic_name_en

    @property
    def brand(self) -> str:
        if (get_language() or "").startswith("zh"):
            return self.brand_name_zh or self.brand_name_en
        return self.brand_name_en or self.brand_name_zh

    @property
    def online_prescribable(self) -> bool:
        return self.active and self.control_class not in ONLINE_PROHIBITED

    @property
    def groups(self) -> list[str]:
        return [g for g in self.allergy_groups.split(";") if g]

    def units_per_package(self) -> Decimal:
        return self.unit_amount * self.package_size


class Severity(models.TextChoices):
    CONTRAINDICATED = "contraindicated", _("contraindicated")
    MAJOR = "major", _("major")
    MODERATE = "moderate", _("moderate")


class Interaction(models.Model):
    """A known drug–drug interaction between two ATC code prefixes (any level). See docs/formulary.md for the
    source of the shipped table; a hospital replaces it with its own rational-drug-use system's table."""

    atc_a = models.CharField(max_length=7)
    atc_b = models.CharField(max_length=7)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    effect_zh = models.CharField(max_length=255)
    effect_en = models.CharField(max_length=255)
    advice_zh = models.CharField(max_length=255, blank=True)
    advice_en = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=255)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        constraints = [models.UniqueConstraint(fields=["atc_a", "atc_b"], name="interaction_once")]

    def __str__(self) -> str:
        return f"{self.atc_a} × {self.atc_b} ({self.severity})"

    def matches(self, code_1: str, code_2: str) -> bool:
        return (code_1.startswith(self.atc_a) and code_2.startswith(self.atc_b)) or (
            code_1.startswith(self.atc_b) and code_2.startswith(self.atc_a)
        )

    @property
    def effect(self) -> str:
        return self.effect_zh if (get_language() or "").startswith("zh") else self.effect_en

    @property
    def advice(self) -> str:
        return self.advice_zh if (get_language() or "").startswith("zh") else self.advice_en


class AllergyGroup(models.Model):
    """Words that, found in a free-text allergy on the chart, mean the patient reacts to a group of drugs."""

    key = models.CharField(max_length=32, primary_key=True)
    label_zh = models.CharField(max_length=64)
    label_en = models.CharField(max_length=64)
    keywords = models.TextField(help_text="semicolon list of lowercase substrings, Chinese and English")

    class Meta:
        verbose_name = _("allergy group")
        verbose_name_plural = _("allergy groups")

    def __str__(self) -> str:
        return self.key

    @property
    def label(self) -> str:
        return self.label_zh if (get_language() or "").startswith("zh") else self.label_en

    def words(self) -> list[str]:
        return [w.strip().lower() for w in self.keywords.split(";") if w.strip()]


# ---- prescriptions --------------------------------------------------------------------------------------------


class RxKind(models.TextChoices):
    ACUTE = "acute", _("acute illness")
    CHRONIC = "chronic", _("chronic disease")
    LONG_TERM = "long_term", _("stable chronic disease, long-term prescription")


class RxStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SIGNED = "signed", _("signed, waiting for the pharmacist")
    UNDER_REVIEW = "under_review", _("being reviewed by a pharmacist")
    APPROVED = "approved", _("approved, ready to order")
    REJECTED = "rejected", _("rejected by the pharmacist")
    DISPENSED = "dispensed", _("dispensed")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


# A prescription that a patient is taking (its supply may still be running): counted by the checks.
CURRENT_STATUSES = (RxStatus.SIGNED, RxStatus.UNDER_REVIEW, RxStatus.APPROVED, RxStatus.DISPENSED)
# In the pharmacists' worklist.
REVIEW_STATUSES = (RxStatus.SIGNED, RxStatus.UNDER_REVIEW)
# Everything the doctor wrote once signed: content frozen.
SIGNED_STATUSES = frozenset(set(RxStatus.values) - {RxStatus.DRAFT})


class Frequency(models.TextChoices):
    QD = "qd", _("once a day")
    BID = "bid", _("twice a day")
    TID = "tid", _("three times a day")
    QID = "qid", _("four times a day")
    Q8H = "q8h", _("every 8 hours")
    Q12H = "q12h", _("every 12 hours")
    QN = "qn", _("every night")
    QOD = "qod", _("every other day")
    QW = "qw", _("once a week")
    PRN = "prn", _("when needed, up to 4 times a day")


# Administrations per day, the ceiling used for supply and maximum-dose checks (PRN counts at its ceiling).
TIMES_PER_DAY = {
    Frequency.QD: Decimal(1),
    Frequency.BID: Decimal(2),
    Frequency.TID: Decimal(3),
    Frequency.QID: Decimal(4),
    Frequency.Q8H: Decimal(3),
    Frequency.Q12H: Decimal(2),
    Frequency.QN: Decimal(1),
    Frequency.QOD: Decimal("0.5"),
    Frequency.QW: Decimal(1) / Decimal(7),
    Frequency.PRN: Decimal(4),
}


class Prescription(models.Model):
    Status = RxStatus
    TRANSITIONS = {
        RxStatus.DRAFT: {RxStatus.SIGNED, RxStatus.CANCELLED},
        RxStatus.SIGNED: {
            RxStatus.UNDER_REVIEW, RxStatus.APPROVED, RxStatus.REJECTED, RxStatus.CANCELLED, RxStatus.EXPIRED,
        },
        RxStatus.UNDER_REVIEW: {
            RxStatus.APPROVED, RxStatus.REJECTED, RxStatus.SIGNED, RxStatus.CANCELLED, RxStatus.EXPIRED,
        },
        RxStatus.APPROVED: {RxStatus.DISPENSED, RxStatus.CANCELLED, RxStatus.EXPIRED},
    }

    number = models.CharField(_("prescription number"), max_length=24, unique=True)
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="prescriptions")
    doctor = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="prescriptions")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    # The online visit it was written in; empty for a refill written from a refill request.
    visit = models.ForeignKey(
        "visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="prescriptions"
    )
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="+")
    diagnosis_code = models.CharField(max_length=8)
    diagnosis_display = models.CharField(max_length=255)
    kind = models.CharField(_("kind"), max_length=16, choices=RxKind.choices, default=RxKind.ACUTE)
    refills_allowed = models.PositiveSmallIntegerField(_("refills allowed"), default=0)
    # The original prescription a refill renews (always the first of the chain, which holds the refill count).
    renewal_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewals"
    )
    # The rejected prescription this one revises.
    revision_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    guardian_name = models.CharField(_("guardian"), max_length=64, blank=True)
    guardian_relationship = models.CharField(_("guardian's relationship"), max_length=32, blank=True)
    guardian_phone = models.CharField(_("guardian's phone"), max_length=20, blank=True)
    notes = models.TextField(_("advice to the patient"), blank=True)
    status = models.CharField(max_length=16, choices=RxStatus.choices, default=RxStatus.DRAFT)
    status_reason = models.TextField(blank=True)
    # The check findings at signing, each with the doctor's override reason: [{key, code, severity, message,
    # override}]. The pharmacist sees them beside a fresh run.
    checks = models.JSONField(default=list, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    doctor_seal = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    dispensed_at = models.DateTimeField(null=True, blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["patient", "status"]),
            models.Index(fields=["status", "signed_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="draft") | models.Q(content_hash=""), name="rx_draft_unsealed"
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(status="cancelled", signed_at__isnull=True)
                | ~models.Q(content_hash=""),
                name="rx_signed_sealed",
            ),
            # One revision per rejected prescription.
            models.UniqueConstraint(
                fields=["revision_of"], condition=~models.Q(status="cancelled") & models.Q(revision_of__isnull=False),
                name="rx_one_live_revision",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("prescriptions are never deleted")

    @property
    def is_signed(self) -> bool:
        return self.status in SIGNED_STATUSES and bool(self.content_hash)

    @property
    def is_chronic(self) -> bool:
        return self.kind in (RxKind.CHRONIC, RxKind.LONG_TERM)

    def days_supply(self) -> int:
        return max((item.duration_days for item in self.items.all()), default=0)

    def total_fen(self) -> int:
        return sum(item.drug.price_fen * item.quantity for item in self.items.all())


class PrescriptionItem(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveSmallIntegerField(default=0)
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="+")
    dose = models.DecimalField(_("dose"), max_digits=10, decimal_places=3)
    dose_unit = models.CharField(max_length=16)
    frequency = models.CharField(_("frequency"), max_length=8, choices=Frequency.choices)
    route = models.CharField(_("route"), max_length=16, choices=Route.choices)
    duration_days = models.PositiveSmallIntegerField(_("days"))
    quantity = models.PositiveSmallIntegerField(_("packages"))
    instructions = models.CharField(_("instructions"), max_length=255, blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["prescription", "drug"], name="rx_item_drug_once"),
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="rx_item_dose_positive"),
            models.CheckConstraint(condition=models.Q(duration_days__gt=0), name="rx_item_days_positive"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="rx_item_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.drug} {self.dose} {self.dose_unit} {self.frequency} × {self.duration_days} d"

    def delete(self, *args, **kwargs):
        if self.prescription.status != RxStatus.DRAFT:
            raise TypeError("items of a signed prescription are never deleted")
        return super().delete(*args, **kwargs)

    def daily_dose(self) -> Decimal:
        return self.dose * TIMES_PER_DAY[self.frequency]


# ---- the pharmacist's review ------------------------------------------------------------------------------------


class ReviewDecision(models.TextChoices):
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class RejectionReason(models.TextChoices):
    """Categories of an inappropriate prescription (医院处方点评管理规范 不适宜处方)."""

    DIAGNOSIS = "diagnosis", _("drug does not fit the diagnosis")
    DRUG_CHOICE = "drug_choice", _("inappropriate choice of drug")
    DOSE = "dose", _("inappropriate dose")
    FREQUENCY_ROUTE = "frequency_route", _("inappropriate frequency or route")
    DURATION_QUANTITY = "duration_quantity", _("inappropriate duration or quantity")
    DUPLICATION = "duplication", _("duplicate therapy")
    INTERACTION = "interaction", _("interaction or incompatibility")
    CONTRAINDICATION = "contraindication", _("contraindication or allergy")
    OTHER = "other", _("other")


class Review(models.Model):
    """The pharmacist's decision on a signed prescription. One per prescription: the database says who won."""

    prescription = models.OneToOneField(Prescription, on_delete=models.PROTECT, related_name="review")
    pharmacist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    reasons = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    # The findings the pharmacist saw when deciding.
    findings = models.JSONField(default=list, blank=True)
    seal = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NeverDeletedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"review of {self.prescription_id}: {self.decision}"

    def delete(self, *args, **kwargs):
        raise TypeError("reviews are never deleted")


# ---- refills ----------------------------------------------------------------------------------------------------


class RefillStatus(models.TextChoices):
    # Not the visits' "waiting for the doctor" (to take the consultation): a refill waits for the doctor's decision.
    REQUESTED = "requested", pgettext_lazy("refill", "waiting for the doctor")
    DRAFTING = "drafting", _("the doctor is adjusting it")
    APPROVED = "approved", _("approved")
    VISIT_NEEDED = "visit_needed", _("the doctor asks for an online visit")
    REFUSED = "refused", _("refused")
    CANCELLED = "cancelled", _("cancelled")


OPEN_REFILL_STATUSES = (RefillStatus.REQUESTED, RefillStatus.DRAFTING)


class Adherence(models.TextChoices):
    ALL = "all", _("I took every dose")
    MISSED_SOME = "missed_some", _("I missed some doses")
    STOPPED = "stopped", _("I stopped taking some of them")


class RefillRequest(models.Model):
    Status = RefillStatus
    TRANSITIONS = {
        RefillStatus.REQUESTED: {
            RefillStatus.APPROVED, RefillStatus.DRAFTING, RefillStatus.VISIT_NEEDED, RefillStatus.REFUSED,
            RefillStatus.CANCELLED,
        },
        RefillStatus.DRAFTING: {
            RefillStatus.APPROVED, RefillStatus.REQUESTED, RefillStatus.VISIT_NEEDED, RefillStatus.REFUSED,
        },
    }

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="refill_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The original prescription (it holds the refill allowance) and the latest of its chain, whose items are renewed.
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="refill_requests")
    source = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="+")
    items = models.ManyToManyField(PrescriptionItem, related_name="+")
    doctor = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="refill_requests")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    answers = models.JSONField(default=dict)
    # Answers that need the doctor's attention first (a very high blood pressure, a stopped medicine...).
    red_flags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=RefillStatus.choices, default=RefillStatus.REQUESTED)
    response = models.TextField(_("doctor's response"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    result = models.OneToOneField(
        Prescription, null=True, blank=True, on_delete=models.PROTECT, related_name="from_refill"
    )
    modified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["department", "status"]), models.Index(fields=["doctor", "status"])]
        constraints = [
            # One open request per prescription chain: a double tap or two relatives asking at once make one.
            models.UniqueConstraint(
                fields=["prescription"], condition=models.Q(status__in=["requested", "drafting"]),
                name="refill_one_open_request",
            ),
        ]

    def __str__(self) -> str:
        return f"refill {self.pk} of {self.prescription_id} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("refill requests are never deleted")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REFILL_STATUSES
