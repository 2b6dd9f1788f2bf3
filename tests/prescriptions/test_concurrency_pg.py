"""Races on a real database server: pharmacists deciding the same prescription at the same moment, and one refill
asked for twice at once (a double tap, or the patient and a relative). Each thread has its own PostgreSQL
connection; the conftest hook skips these tests on SQLite (``test_review.py`` has the same rules step by step)."""

from __future__ import annotations

from collections import Counter

import pytest

from ihospital.core.audit import verify_chain
from ihospital.core.transitions import timeline
from ihospital.prescriptions import refilling, reviewing
from ihospital.prescriptions.models import RefillRequest, Review, RxStatus
from tests.helpers import run_in_threads
from tests.prescriptions.factories import answers, make_due, monthly, pharmacist_user, signed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_pharmacists_approving_at_once_one_wins(doc, patient, diagnosis):
    rx = signed(doc, patient, condition=diagnosis)
    pharmacists = [pharmacist_user() for _ in range(2)]

    results = run_in_threads(2, lambda i: reviewing.review_prescription(
        actor=pharmacists[i], prescription_id=rx.pk, approve=True).pharmacist_id)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 1}, results
    assert {code for kind, code in results if kind == "domain"} == {"already_reviewed"}
    (winner,) = [value for kind, value in results if kind == "ok"]
    review = Review.objects.get(prescription=rx)
    assert review.pharmacist_id == winner and review.decision == "approved"
    rx.refresh_from_db()
    assert (rx.status, rx.reviewer_id) == (RxStatus.APPROVED, winner)
    assert [(e.from_status, e.to_status) for e in timeline(rx)] == [("draft", "signed"), ("signed", "approved")]
    assert verify_chain().ok


def test_many_pharmacists_approving_and_rejecting_at_once_make_one_review(doc, patient, diagnosis):
    rx = signed(doc, patient, condition=diagnosis)
    pharmacists = [pharmacist_user() for _ in range(8)]

    def decide(i: int):
        if i % 2:
            return reviewing.review_prescription(actor=pharmacists[i], prescription_id=rx.pk, approve=True).decision
        return reviewing.review_prescription(actor=pharmacists[i], prescription_id=rx.pk, approve=False,
                                            reasons=["dose"], comment="请减量").decision

    results = run_in_threads(8, decide)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 7}, results
    assert {code for kind, code in results if kind == "domain"} == {"already_reviewed"}
    (decision,) = [value for kind, value in results if kind == "ok"]
    assert Review.objects.filter(prescription=rx).count() == 1
    rx.refresh_from_db()
    assert rx.status == decision
    assert len(timeline(rx)) == 2


def test_pharmacists_claiming_at_once_one_gets_it(doc, patient, diagnosis):
    rx = signed(doc, patient, condition=diagnosis)
    pharmacists = [pharmacist_user() for _ in range(4)]

    results = run_in_threads(4, lambda i: reviewing.claim_review(
        actor=pharmacists[i], prescription_id=rx.pk).reviewer_id)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 3}, results
    assert {code for kind, code in results if kind == "domain"} <= {"invalid_transition", "stale_status"}
    (winner,) = [value for kind, value in results if kind == "ok"]
    rx.refresh_from_db()
    assert (rx.status, rx.reviewer_id) == (RxStatus.UNDER_REVIEW, winner)


def test_one_refill_asked_for_several_times_at_once_is_one_request(doc, patient, diagnosis, relative):
    rx = make_due(monthly(doc, patient, pharmacist_user(), condition=diagnosis))
    askers = [patient.user, relative] * 3

    results = run_in_threads(6, lambda i: refilling.request_refill(
        actor=askers[i], prescription_id=rx.pk, answers=answers()).pk)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 5}, results
    assert {code for kind, code in results if kind == "domain"} == {"refill_already_requested"}
    assert RefillRequest.objects.filter(prescription=rx).count() == 1
    assert verify_chain().ok
