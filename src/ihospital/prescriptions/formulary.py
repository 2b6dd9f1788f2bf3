"""Loading the formulary, the interaction table and the allergy groups from CSV (``ihospital load_formulary``).

The shipped files (``data/``) are a starter set; docs/formulary.md says where each value comes from. A hospital
loads its own files with the same columns. Loading is idempotent: rows are matched by SKU, by ATC pair and by
group key, updated in place, and never deleted (a drug dropped from the file is marked inactive, because signed
prescriptions point at it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from ihospital.core.errors import DomainError

from .models import AllergyGroup, ControlClass, Drug, Form, Interaction, Route, Severity

DATA_DIR = Path(__file__).resolve().parent / "data"

DRUG_COLUMNS = [
    "sku", "generic_name_zh", "generic_name_en", "brand_name_zh", "brand_name_en", "form", "strength", "dose_unit",
    "unit_amount", "dispensing_unit", "package_size", "package_unit", "price_fen", "atc_code", "control_class",
    "default_route", "max_daily_dose", "min_age_years", "chronic", "cold_chain", "allergy_groups", "area",
]
INTERACTION_COLUMNS = ["atc_a", "atc_b", "severity", "effect_zh", "effect_en", "advice_zh", "advice_en", "source"]
GROUP_COLUMNS = ["group", "label_zh", "label_en", "keywords"]


@dataclass
class LoadReport:
    drugs_created: int = 0
    drugs_updated: int = 0
    drugs_retired: int = 0
    interactions: int = 0
    groups: int = 0


def _rows(path: Path, columns: list[str]) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != columns:
            raise DomainError("bad_formulary_file", f"{path.name}: expected columns {columns}, got {reader.fieldnames}")
        return list(reader)


def _decimal(value: str, where: str) -> Decimal | None:
    if not value.strip():
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise DomainError("bad_formulary_file", f"{where}: not a number: {value!r}") from None


def _choice(value: str, choices, where: str) -> str:
    if value not in choices.values:
        raise DomainError("bad_formulary_file", f"{where}: {value!r} is not one of {sorted(choices.values)}")
    return value


def _drug_fields(row: dict, line: int) -> dict:
    where = f"drugs.csv line {line} ({row['sku']})"
    fields = {
        "generic_name_zh": row["generic_name_zh"].strip(),
        "generic_name_en": row["generic_name_en"].strip(),
        "brand_name_zh": row["brand_name_zh"].strip(),
        "brand_name_en": row["brand_name_en"].strip(),
        "form": _choice(row["form"], Form, where),
        "strength": row["strength"].strip(),
        "dose_unit": row["dose_unit"].strip(),
        "unit_amount": _decimal(row["unit_amount"], where),
        "dispensing_unit": row["dispensing_unit"].strip(),
        "package_size": int(row["package_size"]),
        "package_unit": row["package_unit"].strip(),
        "price_fen": int(row["price_fen"]),
        "atc_code": row["atc_code"].strip().upper(),
        "control_class": _choice(row["control_class"], ControlClass, where),
        "default_route": _choice(row["default_route"], Route, where),
        "max_daily_dose": _decimal(row["max_daily_dose"], where),
        "min_age_years": int(row["min_age_years"]) if row["min_age_years"].strip() else None,
        "chronic": row["chronic"].strip() == "1",
        "cold_chain": row["cold_chain"].strip() == "1",
        "allergy_groups": row["allergy_groups"].strip(),
        "area": row["area"].strip(),
        "active": True,
    }
    if not fields["unit_amount"] or fields["unit_amount"] <= 0 or fields["package_size"] <= 0:
        raise DomainError("bad_formulary_file", f"{where}: unit amount and package size must be positive")
    if len(fields["atc_code"]) != 7:
        raise DomainError("bad_formulary_file", f"{where}: ATC code must have 7 characters")
    return fields


@transaction.atomic
def load(data_dir: Path = DATA_DIR, *, retire_missing: bool = False) -> LoadReport:
    """Load all three files in one transaction: a bad row anywhere changes nothing."""
    report = LoadReport()
    groups = _rows(data_dir / "allergy_groups.csv", GROUP_COLUMNS)
    for row in groups:
        AllergyGroup.objects.update_or_create(
            key=row["group"].strip(),
            defaults={"label_zh": row["label_zh"], "label_en": row["label_en"], "keywords": row["keywords"].lower()},
        )
        report.groups += 1
    known_groups = set(AllergyGroup.objects.values_list("key", flat=True))
    seen: set[str] = set()
    for line, row in enumerate(_rows(data_dir / "drugs.csv", DRUG_COLUMNS), start=2):
        fields = _drug_fields(row, line)
        unknown = [g for g in fields["allergy_groups"].split(";") if g and g not in known_groups]
        if unknown:
            raise DomainError("bad_formulary_file", f"drugs.csv line {line}: unknown allergy groups {unknown}")
        sku = row["sku"].strip()
        if sku in seen:
            raise DomainError("bad_formulary_file", f"drugs.csv line {line}: SKU {sku} appears twice")
        seen.add(sku)
        _drug, created = Drug.objects.update_or_create(sku=sku, defaults=fields)
        if created:
            report.drugs_created += 1
        else:
            report.drugs_updated += 1
    if retire_missing:
        report.drugs_retired = Drug.objects.exclude(sku__in=seen).filter(active=True).update(active=False)
    for line, row in enumerate(_rows(data_dir / "interactions.csv", INTERACTION_COLUMNS), start=2):
        a, b = sorted([row["atc_a"].strip().upper(), row["atc_b"].strip().upper()])
        Interaction.objects.update_or_create(
            atc_a=a, atc_b=b,
            defaults={
                "severity": _choice(row["severity"], Severity, f"interactions.csv line {line}"),
                "effect_zh": row["effect_zh"], "effect_en": row["effect_en"],
                "advice_zh": row["advice_zh"], "advice_en": row["advice_en"], "source": row["source"],
            },
        )
        report.interactions += 1
    return report
