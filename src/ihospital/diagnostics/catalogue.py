"""The catalogue of medical tests and the resources they run on, shipped as ``data/tests.json`` and
``data/resources.json`` and managed in the admin site (see docs/diagnostics.md for the sources of the values).

``load()`` is idempotent and all-or-nothing: tests are matched by ``code``, analytes by (test, code), the reference
ranges of each analyte in the file are replaced by the file's; a bad entry anywhere changes nothing. Tests,
analytes and resources missing from the files are left alone (a hospital may have added its own in the admin);
a test is retired (``active``), never deleted.

The structured ``preparation`` rules booking enforces (every key optional):

- ``fasting_hours`` (int, 1..24): nothing to eat for that long before the exam;
- ``morning_only`` (bool): only morning slots (booking's ``MORNING_ENDS``); every overnight fast (8 hours or
  more) is morning-only, a 4-hour fast before a contrast CT is not;
- ``full_bladder`` (bool): the patient drinks and holds urine before the scan;
- ``contrast`` (bool): iodinated/gadolinium contrast is injected, the order asks the safety questions first;
- ``not_same_day_after`` (list of test codes): this exam may not be booked later on the same day as any of these
  (abdominal CT and ultrasound after a barium meal: the barium spoils the images). Booking checks both ways: the
  barium meal itself may not be booked on a day the patient already has one of these exams later that day;
- ``not_same_day_as`` (list of test codes): the two may not be on the same day in any order (none shipped);
- ``safety_questions`` (list of keys of ``SAFETY_QUESTIONS``): what the doctor answers when ordering (the answers
  go to ``DiagnosticOrder.safety``).

Qualitative analytes (the urine dipstick's protein, glucose, ketones, blood, leukocytes, nitrite) have no unit and
no reference range: their result is text on the dipstick's scale (``TEXT_SCALE``); "negative" is normal, anything
else is flagged abnormal (``text_flag``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .models import Analyte, DiagnosticKind, DiagnosticTest, Modality, ReferenceRange, Resource, Specimen

DATA = Path(__file__).parent / "data"
TESTS = DATA / "tests.json"
RESOURCES = DATA / "resources.json"

TEST_FIELDS = ("kind", "name_zh", "name_en", "loinc", "specimen", "modality", "body_part", "preparation_zh",
               "preparation_en", "preparation", "duration_minutes", "turnaround_hours", "price_fen")
ANALYTE_FIELDS = ("loinc", "name_zh", "name_en", "unit", "decimals")
RANGE_BOUNDS = ("low", "high", "critical_low", "critical_high")
RESOURCE_FIELDS = ("name_zh", "name_en", "location_zh", "location_en", "slot_minutes", "capacity", "hours")

PREPARATION_KEYS = {"fasting_hours", "morning_only", "full_bladder", "contrast", "not_same_day_after",
                    "not_same_day_as", "safety_questions"}
SAFETY_QUESTIONS = {
    "contrast_allergy": _("Has the patient ever reacted to a contrast agent?"),
    "kidney_function": _("Recent creatinine / eGFR (contrast is risky when kidney function is poor)?"),
    "metformin": _("Does the patient take metformin?"),
    "hyperthyroidism": _("Does the patient have hyperthyroidism?"),
    "pregnancy": _("Is the patient pregnant or possibly pregnant?"),
    "metal_implant": _("Any metal implant or metal fragment in the body (clips, stents, cochlear implant)?"),
    "pacemaker": _("Does the patient have a pacemaker or defibrillator?"),
    "claustrophobia": _("Is the patient claustrophobic?"),
}
# The dipstick's scale, low to high; the first four spellings all mean "negative".
NEGATIVE_TEXTS = ("-", "阴性", "negative", "neg")
TEXT_SCALE = (*NEGATIVE_TEXTS, "±", "1+", "2+", "3+", "4+")
OVERNIGHT_FAST = 8
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class CatalogueError(ValueError):
    pass


def text_flag(text: str) -> str:
    """The flag of a qualitative result: "N" for negative, "A" for anything else."""
    return "N" if text.strip().lower() in NEGATIVE_TEXTS else "A"


@dataclass
class LoadReport:
    tests_created: int = 0
    tests_updated: int = 0
    analytes_created: int = 0
    analytes_updated: int = 0
    ranges: int = 0
    resources_created: int = 0
    resources_updated: int = 0

    @property
    def created(self) -> int:
        return self.tests_created + self.analytes_created + self.resources_created

    def __str__(self) -> str:
        return ", ".join(f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self))


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_preparation(prep, known_codes=None) -> None:
    """Raise CatalogueError unless ``prep`` is a valid set of preparation rules (see the module's docstring).
    ``known_codes``: the test codes ``not_same_day_after`` may name (None: not checked)."""
    if not isinstance(prep, dict):
        raise CatalogueError("preparation must be an object")
    unknown = set(prep) - PREPARATION_KEYS
    if unknown:
        raise CatalogueError(f"unknown preparation rule(s) {sorted(unknown)}; known: {sorted(PREPARATION_KEYS)}")
    if "fasting_hours" in prep and not _int_in(prep["fasting_hours"], 1, 24):
        raise CatalogueError("fasting_hours must be a whole number of hours, 1..24")
    for flag in ("morning_only", "full_bladder", "contrast"):
        if flag in prep and not isinstance(prep[flag], bool):
            raise CatalogueError(f"{flag} must be true or false")
    if prep.get("fasting_hours", 0) >= OVERNIGHT_FAST and not prep.get("morning_only"):
        raise CatalogueError(f"a test fasting {OVERNIGHT_FAST} hours or more is morning_only")
    for rule in ("not_same_day_after", "not_same_day_as"):
        codes = prep.get(rule, [])
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            raise CatalogueError(f"{rule} must be a list of test codes")
        if known_codes is not None and set(codes) - set(known_codes):
            raise CatalogueError(f"{rule} names unknown test(s) {sorted(set(codes) - set(known_codes))}")
    questions = prep.get("safety_questions", [])
    if not isinstance(questions, list) or set(questions) - set(SAFETY_QUESTIONS):
        raise CatalogueError(f"safety_questions must be some of {sorted(SAFETY_QUESTIONS)}")


def validate_test(entry: dict, known_codes=None) -> None:
    """The checks of one test's own fields (not its analytes)."""
    missing = [f for f in ("code", *TEST_FIELDS) if f not in entry]
    if missing:
        raise CatalogueError(f"missing {', '.join(missing)}")
    kind, modality, specimen = entry["kind"], entry["modality"], entry["specimen"]
    if kind not in DiagnosticKind.values:
        raise CatalogueError(f"unknown kind {kind!r}")
    if modality not in Modality.values:
        raise CatalogueError(f"unknown modality {modality!r}")
    if specimen not in Specimen.values:
        raise CatalogueError(f"unknown specimen {specimen!r}")
    if kind == DiagnosticKind.LAB and (not specimen or modality):
        raise CatalogueError("a lab test has a specimen and no modality")
    if kind != DiagnosticKind.LAB and (specimen or not modality):
        raise CatalogueError("an exam has a modality and no specimen")
    if not (entry["name_zh"] and entry["name_en"]):
        raise CatalogueError("a test has a Chinese and an English name")
    if not _int_in(entry["price_fen"], 1, 10_000_000):
        raise CatalogueError("price_fen must be a positive whole number")
    if not _int_in(entry["duration_minutes"], 1, 240):
        raise CatalogueError("duration_minutes must be 1..240")
    if not _int_in(entry["turnaround_hours"], 1, 720):
        raise CatalogueError("turnaround_hours must be 1..720")
    validate_preparation(entry["preparation"], known_codes)


def _decimal(value, name: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float, str)):
        raise CatalogueError(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise CatalogueError(f"{name} must be a number") from None
    if not number.is_finite() or number < 0:
        raise CatalogueError(f"{name} must be a number, 0 or more")
    return number


def validate_range(entry: dict) -> dict:
    """One reference range's values, checked: sex, an age band, low <= high, critical limits outside normal."""
    sex = entry.get("sex", "")
    if sex not in ("", "F", "M"):
        raise CatalogueError(f"sex must be \"\", \"F\" or \"M\", not {sex!r}")
    age_min, age_max = entry.get("age_min", 0), entry.get("age_max", 200)
    if not (_int_in(age_min, 0, 200) and _int_in(age_max, 1, 200) and age_min < age_max):
        raise CatalogueError(f"age band {age_min}..{age_max} is not valid (age_max is exclusive)")
    low, high, c_low, c_high = (_decimal(entry.get(b), b) for b in RANGE_BOUNDS)
    if low is None and high is None:
        raise CatalogueError("a range has a low or a high bound")
    if low is not None and high is not None and low > high:
        raise CatalogueError(f"low {low} is above high {high}")
    normal = [b for b in (low, high) if b is not None]
    if c_low is not None and c_low >= min(normal):
        raise CatalogueError(f"critical_low {c_low} is not below the normal range")
    if c_high is not None and c_high <= max(normal):
        raise CatalogueError(f"critical_high {c_high} is not above the normal range")
    return {"sex": sex, "age_min": age_min, "age_max": age_max, "low": low, "high": high,
            "critical_low": c_low, "critical_high": c_high}


def _overlaps(ranges: list[dict]) -> bool:
    for i, one in enumerate(ranges):
        for other in ranges[i + 1:]:
            sexes_meet = not one["sex"] or not other["sex"] or one["sex"] == other["sex"]
            if sexes_meet and one["age_min"] < other["age_max"] and other["age_min"] < one["age_max"]:
                return True
    return False


def _validate_analytes(entry: dict) -> list[tuple[str, dict, list[dict]]]:
    analytes = entry.get("analytes", [])
    if not isinstance(analytes, list):
        raise CatalogueError("analytes must be a list")
    if entry["kind"] == DiagnosticKind.LAB and not analytes:
        raise CatalogueError("a lab test has analytes")
    if entry["kind"] != DiagnosticKind.LAB and analytes:
        raise CatalogueError("only lab tests have analytes")
    rows, codes = [], set()
    for number, analyte in enumerate(analytes, start=1):
        where = f"analyte {number} ({analyte.get('code', '?')})"
        missing = [f for f in ("code", *ANALYTE_FIELDS) if f not in analyte]
        if missing:
            raise CatalogueError(f"{where}: missing {', '.join(missing)}")
        if analyte["code"] in codes:
            raise CatalogueError(f"{where}: code appears twice")
        codes.add(analyte["code"])
        if not _int_in(analyte["decimals"], 0, 4):
            raise CatalogueError(f"{where}: decimals must be 0..4")
        text = analyte.get("result") == "text"
        if text and (analyte["unit"] or analyte.get("ranges")):
            raise CatalogueError(f"{where}: a text result has no unit and no ranges")
        if not text and not analyte.get("ranges"):
            raise CatalogueError(f"{where}: a numeric analyte has reference ranges")
        try:
            ranges = [validate_range(r) for r in analyte.get("ranges", [])]
        except CatalogueError as error:
            raise CatalogueError(f"{where}: {error}") from None
        if _overlaps(ranges):
            raise CatalogueError(f"{where}: two ranges cover the same sex and age")
        rows.append((analyte["code"], {f: analyte[f] for f in ANALYTE_FIELDS}, ranges))
    return rows


def validate_hours(hours) -> None:
    """``{"0": [["08:00", "12:00"], ...], ...}``: weekdays "0" (Monday) to "6", ordered non-overlapping periods."""
    if not isinstance(hours, dict) or not hours:
        raise CatalogueError("hours must be an object by weekday, \"0\" (Monday) to \"6\"")
    for day, periods in hours.items():
        if day not in {str(d) for d in range(7)}:
            raise CatalogueError(f"hours: {day!r} is not a weekday \"0\"..\"6\"")
        if not isinstance(periods, list):
            raise CatalogueError(f"hours[{day}] must be a list of [start, end] periods")
        previous_end = ""
        for period in periods:
            if not (isinstance(period, list) and len(period) == 2
                    and all(isinstance(t, str) and _HHMM.match(t) for t in period)):
                raise CatalogueError(f"hours[{day}]: {period!r} is not [\"HH:MM\", \"HH:MM\"]")
            if not previous_end <= period[0] < period[1]:
                raise CatalogueError(f"hours[{day}]: periods must be in order, each ending after it starts")
            previous_end = period[1]


def validate_resource(entry: dict, known_codes) -> None:
    missing = [f for f in ("code", "name_zh", "name_en", "slot_minutes", "capacity", "hours", "tests")
               if f not in entry]
    if missing:
        raise CatalogueError(f"missing {', '.join(missing)}")
    if not _int_in(entry["slot_minutes"], 5, 240):
        raise CatalogueError("slot_minutes must be 5..240")
    if not _int_in(entry["capacity"], 1, 100):
        raise CatalogueError("capacity must be 1..100")
    validate_hours(entry["hours"])
    if not isinstance(entry["tests"], list) or not entry["tests"]:
        raise CatalogueError("a resource performs some tests")
    unknown = set(entry["tests"]) - set(known_codes)
    if unknown:
        raise CatalogueError(f"unknown test(s) {sorted(unknown)}")


def _read(path: Path, what: str) -> list[dict]:
    entries = json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogueError(f"{Path(path).name} must hold a list of {what} (objects)")
    codes = [e.get("code") for e in entries]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise CatalogueError(f"{Path(path).name}: a code appears twice: {twice}")
    return entries


def load(tests_path: Path = TESTS, resources_path: Path = RESOURCES) -> LoadReport:
    """Load (or refresh) the catalogue from both files; raises CatalogueError (nothing loaded) on a bad entry."""
    tests, resources = _read(tests_path, "tests"), _read(resources_path, "resources")
    known = {e["code"] for e in tests} | set(DiagnosticTest.objects.values_list("code", flat=True))
    checked = []
    for number, entry in enumerate(tests, start=1):
        try:
            validate_test(entry, known)
            checked.append((entry, _validate_analytes(entry)))
        except (CatalogueError, TypeError, AttributeError) as error:
            raise CatalogueError(f"test {number} ({entry.get('code', '?')}): {error}") from None
    for number, entry in enumerate(resources, start=1):
        try:
            validate_resource(entry, known)
        except (CatalogueError, TypeError, AttributeError) as error:
            raise CatalogueError(f"resource {number} ({entry.get('code', '?')}): {error}") from None

    report = LoadReport()
    with transaction.atomic():
        for position, (entry, analytes) in enumerate(checked, start=1):
            test, created = DiagnosticTest.objects.update_or_create(
                code=entry["code"], defaults={**{f: entry[f] for f in TEST_FIELDS}, "position": position})
            report.tests_created += created
            report.tests_updated += not created
            for place, (code, values, ranges) in enumerate(analytes, start=1):
                analyte, created = Analyte.objects.update_or_create(test=test, code=code,
                                                                    defaults={**values, "position": place})
                report.analytes_created += created
                report.analytes_updated += not created
                analyte.ranges.all().delete()
                ReferenceRange.objects.bulk_create(ReferenceRange(analyte=analyte, **r) for r in ranges)
                report.ranges += len(ranges)
        by_code = {t.code: t for t in DiagnosticTest.objects.all()}
        for entry in resources:
            resource, created = Resource.objects.update_or_create(
                code=entry["code"], defaults={f: entry.get(f, "") for f in RESOURCE_FIELDS})
            resource.tests.add(*(by_code[c] for c in entry["tests"]))
            report.resources_created += created
            report.resources_updated += not created
    return report
