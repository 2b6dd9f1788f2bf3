"""The events registry: every kind the workflows emit is registered, lookups pick the most specific pattern, and the
outside texts carry no clinical detail."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.utils import translation

from ihospital.notifications import events

SRC = Path(__file__).resolve().parents[2] / "src" / "ihospital"
# The prefix each app's notification helpers put before the kind they are given.
HELPER_PREFIX = {"homecare": "homecare.", "pharmacy": "order.", "teleconsult": "teleconsult."}
HELPERS = {"tell", "_tell", "tell_users", "tell_patient"}


def _literal(node) -> str | None:
    """A string constant, or an f-string with each placeholder replaced by "x"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def emitted_kinds() -> dict[str, str]:
    """Every notification kind found in the workflows' calls of notify() and their tell helpers → where."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        app = path.relative_to(SRC).parts[0]
        if app in {"notifications", "wechat"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if name == "notify":
                for kw in node.keywords:
                    if kw.arg == "kind" and (kind := _literal(kw.value)):
                        found[kind] = where
            elif name in HELPERS and app in HELPER_PREFIX:
                for arg in node.args[1:3]:
                    if (kind := _literal(arg)) is not None:
                        found[HELPER_PREFIX[app] + kind] = where
                        break
    return found


# Kinds made from a status at run time (the scan sees only "x" for them).
DYNAMIC = ["refill.approved", "refill.visit_needed", "refill.refused", "homecare.alarm.panic",
           "homecare.alarm.overrun", "order.cancelled", "order.refunded", "order.refunded-12",
           "order.tracking-in_transit", "homecare.refunded-3", "teleconsult.escalation.first_response.2",
           "teleconsult.assigned.7", "teleconsult.opinion.4.2"]
# Events the issue names that the workflows may emit under these kinds.
ISSUE_EVENTS = ["visit.accepted", "visit.replied", "refill.approved", "refill.refused", "prescription.approved",
                "prescription.rejected", "order.paid", "homecare.paid", "order.shipped", "order.delivered",
                "diagnostics.booked", "diagnostics.released", "homecare.en_route", "homecare.arrived",
                "teleconsult.reported"]


def test_the_scan_finds_the_workflows_notifications():
    kinds = emitted_kinds()
    assert len(kinds) >= 40, sorted(kinds)
    for expected in ("visit.reminder", "prescription.approved", "order.shipped", "homecare.en_route",
                     "diagnostics.critical", "teleconsult.reported", "refill.requested"):
        assert expected in kinds


def test_every_kind_the_workflows_emit_is_registered():
    missing = {kind: where for kind, where in emitted_kinds().items() if not events.is_registered(kind)}
    assert missing == {}
    for kind in DYNAMIC + ISSUE_EVENTS:
        assert events.is_registered(kind), kind


def test_every_kind_fits_the_notification_kind_column():
    assert all(len(kind) <= 48 for kind in emitted_kinds())


@pytest.mark.parametrize(("kind", "pattern", "category", "urgent"), [
    ("order.shipped", "order.shipped", "order", False),
    ("order.paid", "order.paid", "payment", False),
    ("order.refunded-12", "order.refunded*", "payment", False),
    ("order.tracking-in_transit", "order.tracking*", "order", False),
    ("order.something_new", "order.*", "order", False),
    ("homecare.alarm.panic", "homecare.alarm.*", "security", True),
    ("homecare.alarm.acknowledged", "homecare.alarm.acknowledged", "security", True),
    ("homecare.en_route", "homecare.en_route", "homecare", False),
    ("diagnostics.critical", "diagnostics.critical", "diagnostics", True),
    ("teleconsult.escalation.first_response.2", "teleconsult.escalation.*", "teleconsult", False),
    ("refill.visit_needed", "refill.*", "prescription", False),
    ("nothing.known", "*", "other", False),
])
def test_lookup_picks_the_most_specific_event(kind, pattern, category, urgent):
    event = events.lookup(kind)
    assert (event.pattern, event.category, event.urgent) == (pattern, category, urgent)


def test_registering_twice_or_an_unknown_category_is_refused():
    with pytest.raises(ValueError, match="twice"):
        events.register("order.shipped", "order", "again")
    with pytest.raises(ValueError, match="category"):
        events.register("brand.new", "no-such-category", "text")
    assert not events.is_registered("brand.new")


# Words that would be clinical detail in a message leaving the platform.
CLINICAL = ["diagnos", "诊断", "drug", "药品", "mg", "result value", "positive", "negative", "阳性", "阴性",
            "糖尿病", "高血压", "diabetes", "hypertension", "potassium", "血钾"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_outside_texts_name_the_event_and_nothing_clinical(language):
    with translation.override(language):
        for event in [*events.REGISTRY, events.FALLBACK]:
            text = event.external_text()
            assert text and len(text) <= 120, event.pattern
            assert not any(word.lower() in text.lower() for word in CLINICAL), (event.pattern, text)
            assert event.category in events.CATEGORIES
            assert event.data_keys == ("first", "keyword1", "keyword2", "remark")


def test_security_is_the_one_category_a_user_cannot_mute():
    assert set(events.UNMUTABLE_CATEGORIES) == {"security"}
    assert {e.category for e in events.REGISTRY if e.urgent} == {"security", "diagnostics"}
