"""Bilingual catalogue rows (``<field>_zh`` and ``<field>_en``): the text in the reader's language."""

from __future__ import annotations

from django.utils.translation import get_language


def bilingual(obj, field: str) -> str:
    """Chinese for a zh-* language, else English (falling back to Chinese when there is no English)."""
    zh, en = getattr(obj, f"{field}_zh"), getattr(obj, f"{field}_en")
    return zh if (get_language() or "").startswith("zh") else (en or zh)
