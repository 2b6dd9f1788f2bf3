"""The catalogue of home-nursing services, shipped as ``data/services.json`` and managed in the admin site.

``load()`` is idempotent and all-or-nothing: a bad entry changes nothing. Services missing from the file are
left alone (a hospital may have added its own in the admin); a service is retired (``active``), never deleted.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction

from ihospital.directory.models import NURSE_TITLE_RANK

from .models import EligibleGroup, NursingService, Skill

DATA = Path(__file__).parent / "data" / "services.json"
FIELDS = ("name_zh", "name_en", "description_zh", "description_en", "duration_minutes", "price_fen", "min_title",
          "min_years", "skill", "needs_doctor_order", "eligible_groups", "consumables")


class CatalogueError(ValueError):
    pass


def _validate(entry: dict, position: int) -> dict:
    where = f"service {position} ({entry.get('code', '?')})"
    missing = [f for f in ("code", *FIELDS) if f not in entry]
    if missing:
        raise CatalogueError(f"{where}: missing {', '.join(missing)}")
    if entry["skill"] not in Skill.values:
        raise CatalogueError(f"{where}: unknown skill {entry['skill']!r}")
    if entry["min_title"] not in NURSE_TITLE_RANK:
        raise CatalogueError(f"{where}: min_title must be a nurse's title")
    if not entry["eligible_groups"] or set(entry["eligible_groups"]) - set(EligibleGroup.values):
        raise CatalogueError(f"{where}: eligible_groups must be some of {EligibleGroup.values}")
    if not (isinstance(entry["duration_minutes"], int) and 0 < entry["duration_minutes"] <= 240):
        raise CatalogueError(f"{where}: duration_minutes must be 1..240")
    if not (isinstance(entry["price_fen"], int) and entry["price_fen"] > 0):
        raise CatalogueError(f"{where}: price_fen must be a positive whole number")
    for item in entry["consumables"]:
        if not {"code", "zh", "en", "qty", "price_fen"} <= set(item) or item["qty"] < 1 or item["price_fen"] < 0:
            raise CatalogueError(f"{where}: consumable {item!r} needs code, zh, en, qty >= 1, price_fen >= 0")
    return {f: entry[f] for f in FIELDS}


def load(path: Path = DATA) -> tuple[int, int]:
    """(created, updated)."""
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogueError("the file must hold a list of services (objects)")
    rows = [(e["code"], _validate(e, i)) for i, e in enumerate(entries, start=1)]
    codes = [code for code, _values in rows]
    if len(set(codes)) != len(codes):
        raise CatalogueError(f"a code appears twice: {sorted({c for c in codes if codes.count(c) > 1})}")
    created = updated = 0
    with transaction.atomic():
        for position, (code, values) in enumerate(rows, start=1):
            _obj, was_created = NursingService.objects.update_or_create(code=code, defaults={**values,
                                                                                             "position": position})
            created += was_created
            updated += not was_created
    return created, updated
