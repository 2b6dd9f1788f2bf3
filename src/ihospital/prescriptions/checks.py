"""The automated checks run on a prescription before the doctor signs and again when the pharmacist decides.

Each finding has a stable ``key`` (the same problem gives the same key on every run), so an override reason the
doctor recorded for it stays attached while the prescription is edited, and a finding that appears later (a new
allergy on the chart, another prescription) has no override and stops the signature.

Checks: allergy conflicts with the chart, duplicate therapy (same ATC level 4, within the prescription or with
what the patient already takes), known interactions (the shipped table, docs/formulary.md), a daily dose above
the product's maximum, and age limits. None of them is a substitute for the pharmacist; they make sure nobody
signs past a known problem without saying why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ihospital.records.models import Allergy, MedicationStatement, MedicationStatus

from .models import (
    CURRENT_STATUSES,
    AllergyGroup,
    Drug,
    Interaction,
    Prescription,
    PrescriptionItem,
    Severity,
)

HIGH = "high"
MODERATE = "moderate"


@dataclass(frozen=True)
class Finding:
    key: str
    code: str
    severity: str
    message: str
    sku: str

    def as_dict(self, override: str = "") -> dict:
        return {**asdict(self), "override": override}


@dataclass(frozen=True)
class OtherDrug:
    """Something the patient already takes: another current prescription's item or a chart medication."""

    drug: Drug
    where: str
    from_chart: bool = False


def _normalise(text: str) -> str:
    text = text.lower()
    for noise in ("过敏", "allergy", "allergic", "to ", "对"):
        text = text.replace(noise, " ")
    return " ".join(text.split())


def _allergy_hits(drug: Drug, allergies, groups: dict[str, AllergyGroup]) -> list[tuple[Allergy, str]]:
    names = [n.lower() for n in (drug.generic_name_zh, drug.generic_name_en, drug.brand_name_zh, drug.brand_name_en)
             if n]
    hits = []
    for allergy in allergies:
        text = allergy.substance.lower()
        plain = _normalise(allergy.substance)
        matched = ""
        for key in drug.groups:
            group = groups.get(key)
            if group and any(word in text for word in group.words()):
                matched = group.label
                break
        if not matched and plain and len(plain) >= 2 and any(plain in name or name in text for name in names):
            matched = allergy.substance
        if matched:
            hits.append((allergy, matched))
    return hits


# Dosage-form words stripped from a generic name before looking for it in free text ("氨氯地平" in "氨氯地平 5mg").
NAME_SUFFIXES = (
    "缓释片", "控释片", "肠溶片", "分散片", "胶囊", "乳膏", "软膏", "片",
    " tablets", " capsules", " cream", " ointment", " sustained-release", " extended-release",
)


# Salts a chart entry usually leaves out too ("氨氯地平" for 苯磺酸氨氯地平片, "amlodipine" for amlodipine besylate).
SALT_PREFIXES = ("苯磺酸", "马来酸", "琥珀酸", "富马酸", "硫酸氢", "硫酸", "盐酸", "磷酸", "枸橼酸", "草酸", "酒石酸")
SALT_SUFFIXES = (
    "叔丁胺", "钙", "钠", "钾", " besylate", " maleate", " succinate", " fumarate", " hydrogen sulfate", " sulfate",
    " hydrochloride", " hyclate", " phosphate", " citrate", " oxalate", " tartrate", " calcium", " sodium",
    " potassium", " tert-butylamine",
)


def _name_cores(name: str) -> list[str]:
    core = name.lower()
    for suffix in NAME_SUFFIXES:
        core = core.replace(suffix, "")
    core = core.strip()
    bare = next((core[len(p):] for p in SALT_PREFIXES if core.startswith(p)), core)
    bare = next((bare[:-len(s)] for s in SALT_SUFFIXES if bare.endswith(s)), bare).strip()
    return [c for c in (core, bare) if len(c) >= 2]


def _formulary_match(text: str, formulary: list[Drug]) -> Drug | None:
    """The formulary drug a free-text chart medication names ("氨氯地平 5mg", "Amlodipine"), if any."""
    lowered = text.lower()
    for drug in formulary:
        for name in (drug.generic_name_zh, drug.generic_name_en):
            if any(core in lowered for core in _name_cores(name)):
                return drug
    return None


def current_therapy(prescription: Prescription) -> list[OtherDrug]:
    """What else the patient takes now: items of other current prescriptions whose supply is still running, and
    active medications on the chart. The chain a refill renews is left out: the refill replaces it."""
    now = timezone.now()
    chain = {prescription.pk}
    if prescription.renewal_of_id:
        chain |= set(
            Prescription.objects.filter(Q(pk=prescription.renewal_of_id) | Q(renewal_of=prescription.renewal_of_id))
            .values_list("pk", flat=True)
        )
    chain |= set(Prescription.objects.filter(renewal_of=prescription.pk).values_list("pk", flat=True))
    if prescription.revision_of_id:
        chain.add(prescription.revision_of_id)
    others: list[OtherDrug] = []
    items = (
        PrescriptionItem.objects.filter(prescription__patient=prescription.patient_id,
                                        prescription__status__in=CURRENT_STATUSES)
        .exclude(prescription__in=chain)
        .select_related("drug", "prescription")
    )
    for item in items:
        started = item.prescription.signed_at or item.prescription.created_at
        if started + timedelta(days=item.duration_days) >= now:
            others.append(OtherDrug(item.drug, item.prescription.number))
    statements = MedicationStatement.objects.filter(
        patient=prescription.patient_id, status=MedicationStatus.ACTIVE, entered_in_error=False
    )
    if statements:
        formulary = list(Drug.objects.all())
        for statement in statements:
            drug = _formulary_match(statement.medication, formulary)
            if drug is not None:
                others.append(OtherDrug(drug, _("chart: %(medication)s") % {"medication": statement.medication},
                                        from_chart=True))
    return others


def run(prescription: Prescription) -> list[Finding]:
    items = list(prescription.items.select_related("drug"))
    patient = prescription.patient
    findings: list[Finding] = []

    # Allergies on the chart.
    allergies = list(Allergy.objects.filter(patient=patient, entered_in_error=False))
    groups = {g.key: g for g in AllergyGroup.objects.all()}
    for item in items:
        for allergy, matched in _allergy_hits(item.drug, allergies, groups):
            findings.append(Finding(
                f"allergy:{item.drug.sku}:{allergy.pk}", "allergy_conflict", HIGH,
                _("%(drug)s: the chart records an allergy to %(allergy)s (%(reaction)s).")
                % {"drug": item.drug.name, "allergy": matched, "reaction": allergy.reaction or allergy.substance},
                item.drug.sku,
            ))

    # Age limits from the labels.
    age = patient.age()
    for item in items:
        if item.drug.min_age_years is not None and age < item.drug.min_age_years:
            findings.append(Finding(
                f"age:{item.drug.sku}", "age_limit", HIGH,
                _("%(drug)s is not for patients under %(years)s years; this patient is %(age)s.")
                % {"drug": item.drug.name, "years": item.drug.min_age_years, "age": age},
                item.drug.sku,
            ))

    # The maximum daily dose.
    for item in items:
        limit = item.drug.max_daily_dose
        if limit is not None and item.dose_unit == item.drug.dose_unit and item.daily_dose() > limit:
            findings.append(Finding(
                f"dose:{item.drug.sku}", "dose_above_maximum", HIGH,
                _("%(drug)s: %(daily)s %(unit)s a day is above the maximum of %(max)s %(unit)s.")
                % {"drug": item.drug.name, "daily": _num(item.daily_dose()), "max": _num(limit),
                   "unit": item.dose_unit},
                item.drug.sku,
            ))

    # Duplicate therapy and interactions: among the items, and between each item and what the patient takes.
    pairs: list[tuple[PrescriptionItem, Drug, str]] = []
    therapy = current_therapy(prescription)
    for i, item in enumerate(items):
        for other in items[i + 1:]:
            pairs.append((item, other.drug, _("this prescription")))
        for other in therapy:
            if other.from_chart and other.drug.pk == item.drug.pk:
                continue  # the chart's record of this very medicine: prescribing it continues that therapy
            pairs.append((item, other.drug, other.where))
    table = list(Interaction.objects.all())
    seen: set[str] = set()
    for item, other, where in pairs:
        a, b = sorted([item.drug.sku, other.sku])
        if item.drug.pk != other.pk and item.drug.atc_code[:5] == other.atc_code[:5]:
            key = f"duplicate:{a}:{b}"
            if key not in seen:
                seen.add(key)
                findings.append(Finding(
                    key, "duplicate_therapy", MODERATE,
                    _("%(drug)s and %(other)s (%(where)s) are in the same therapeutic class (ATC %(atc)s).")
                    % {"drug": item.drug.name, "other": other.name, "where": where, "atc": item.drug.atc_code[:5]},
                    item.drug.sku,
                ))
        elif item.drug.pk == other.pk:
            key = f"duplicate:{a}:{b}"
            if key not in seen:
                seen.add(key)
                findings.append(Finding(
                    key, "duplicate_therapy", MODERATE,
                    _("%(drug)s is already prescribed (%(where)s).") % {"drug": item.drug.name, "where": where},
                    item.drug.sku,
                ))
        for interaction in table:
            if interaction.matches(item.drug.atc_code, other.atc_code):
                key = f"interaction:{a}:{b}"
                if key not in seen:
                    seen.add(key)
                    findings.append(Finding(
                        key, "interaction",
                        HIGH if interaction.severity != Severity.MODERATE else MODERATE,
                        _("%(drug)s with %(other)s (%(where)s): %(effect)s %(advice)s")
                        % {"drug": item.drug.name, "other": other.name, "where": where,
                           "effect": interaction.effect, "advice": interaction.advice},
                        item.drug.sku,
                    ))
    return findings


def with_overrides(findings: list[Finding], overrides: dict[str, str]) -> list[dict]:
    return [f.as_dict(override=(overrides.get(f.key) or "").strip()) for f in findings]


def _num(value) -> str:
    return f"{value.normalize():f}" if hasattr(value, "normalize") else str(value)
