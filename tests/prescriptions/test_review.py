"""The pharmacist's review (审方): the worklist, claiming, approving and rejecting, new findings after signing, the
doctor's revision, and what only an approved prescription allows (payment, dispensing); expiry."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from ihospital.core.models import AuditAction, AuditEvent
from ihospital.core.transitions import timeline
from ihospital.notifications.models import Notification
from ihospital.prescriptions import reviewing, selectors, services, tasks
from ihospital.prescriptions.models import Prescription, Review, RxStatus
from ihospital.records import services as records
from tests.prescriptions.factories import (
    DrugFactory,
    amlodipine,
    approve,
    draft,
    item,
    metformin,
    pharmacist_user,
    refused,
    reject,
    sign,
    state,
)
from tests.visits.factories import online_doctor

pytestmark = pytest.mark.django_db


def review(actor, rx, **kw):
    return reviewing.review_prescription(actor=actor, prescription_id=rx.pk, **kw)


@pytest.fixture
def colleague(db):
    """A second pharmacist."""
    return pharmacist_user()


# ---- the worklist --------------------------------------------------------------------------------------------------


def test_the_worklist_holds_signed_prescriptions_oldest_first(rx, doc, visit, pharmacist, colleague):
    second = sign(doc, draft(doc, visit, item(metformin(), dose="500", frequency="bid")))
    draft(doc, visit, item(metformin(), dose="500"))  # a draft: never in the worklist
    decided = sign(doc, draft(doc, visit, item(DrugFactory())))
    approve(colleague, decided)
    reviewing.claim_review(actor=colleague, prescription_id=second.pk)

    assert list(selectors.review_worklist(pharmacist)) == [rx, second]


def test_only_pharmacists_have_the_worklist(doc, patient):
    for user in (doc.user, patient.user):
        with pytest.raises(Exception) as caught:
            selectors.review_worklist(user)
        assert caught.value.code == "not_found"


# ---- approving and rejecting -----------------------------------------------------------------------------------------


def test_approving_seals_the_decision_and_tells_the_patient(rx, pharmacist, patient, relative):
    result = review(pharmacist, rx, approve=True, comment="")

    rx.refresh_from_db()
    assert rx.status == RxStatus.APPROVED and rx.reviewer == pharmacist and rx.reviewed_at is not None
    assert (result.decision, result.pharmacist, result.reasons, result.findings) == ("approved", pharmacist, [], [])
    assert result.seal == services.seal("pharmacist", pharmacist.pk, "approved", rx.content_hash,
                                        result.created_at.isoformat())
    assert [(e.from_status, e.to_status) for e in timeline(rx)] == [("draft", "signed"), ("signed", "approved")]
    assert AuditEvent.objects.filter(actor=pharmacist, action=AuditAction.UPDATE, object_id=str(rx.pk),
                                     detail__review="approved").exists()
    told = Notification.objects.filter(kind="prescription.approved")
    assert sorted(n.user_id for n in told) == sorted([patient.user.pk, relative.pk])


def test_rejecting_needs_reasons_from_the_list_and_a_comment(rx, pharmacist):
    before = state()
    refused("reasons_required", review, pharmacist, rx, approve=False, comment="剂量过大")
    error = refused("reasons_required", review, pharmacist, rx, approve=False, reasons=["dose", "vibes"],
                    comment="剂量过大")
    assert error.fields == {"reasons": "vibes"}
    refused("comment_required", review, pharmacist, rx, approve=False, reasons=["dose"], comment="  ")
    assert state() == before


def test_a_rejection_goes_back_to_the_doctor_with_the_reasons(rx, pharmacist, doc, patient):
    result = review(pharmacist, rx, approve=False, reasons=["dose", "interaction"], comment="请减量")

    rx.refresh_from_db()
    assert (rx.status, rx.status_reason) == (RxStatus.REJECTED, "请减量")
    assert (result.decision, result.reasons, result.comment) == ("rejected", ["dose", "interaction"], "请减量")
    doctor_note = Notification.objects.get(user=doc.user, kind="prescription.rejected")
    assert doctor_note.body == "请减量"
    assert Notification.objects.filter(user=patient.user, kind="prescription.rejected").count() == 1


def test_only_pharmacists_review(rx, doc, patient):
    before = state()
    for user in (doc.user, patient.user):
        assert refused("not_a_pharmacist", review, user, rx, approve=True).status == 403
        refused("not_a_pharmacist", reviewing.claim_review, actor=user, prescription_id=rx.pk)
    assert state() == before


def test_a_draft_is_not_there_for_the_pharmacist(doc, visit, pharmacist):
    unsigned = draft(doc, visit, item(amlodipine()))
    before = state()
    assert refused("not_found", review, pharmacist, unsigned, approve=True).status == 404
    refused("not_found", reviewing.claim_review, actor=pharmacist, prescription_id=unsigned.pk)
    assert state() == before


def test_a_decided_prescription_is_not_decided_again(rx, pharmacist, colleague):
    approve(pharmacist, rx)
    before = state()

    for user in (pharmacist, colleague):
        assert refused("already_reviewed", review, user, rx, approve=False, reasons=["dose"],
                       comment="x").status == 409

    assert state() == before
    assert Review.objects.filter(prescription=rx).count() == 1


def test_two_pharmacists_one_after_the_other_one_review(rx, pharmacist, colleague):
    results = []
    for user in (pharmacist, colleague):
        try:
            results.append(review(user, rx, approve=True).pharmacist)
        except Exception as exc:  # noqa: BLE001
            results.append(exc.code)
    assert results == [pharmacist, "already_reviewed"]
    assert Review.objects.get(prescription=rx).pharmacist == pharmacist


def test_the_database_decides_when_both_read_the_prescription_before_either_decided(rx, pharmacist, colleague):
    """What the PostgreSQL race test does with threads, step by step: the loser read the prescription while it was
    still waiting, and its Review is refused by the one-review-per-prescription constraint."""
    stale = selectors.prescription_for(colleague, rx.pk)
    approve(pharmacist, rx)
    before = state()

    with mock.patch.object(services, "prescription_for", return_value=stale):
        error = refused("already_reviewed", review, colleague, rx, approve=True)

    assert error.status == 409
    assert state() == before
    rx.refresh_from_db()
    assert rx.reviewer == pharmacist


# ---- claiming --------------------------------------------------------------------------------------------------------


def test_a_claimed_prescription_is_reviewed_by_whoever_claimed_it(rx, pharmacist, colleague):
    claimed = reviewing.claim_review(actor=pharmacist, prescription_id=rx.pk)
    assert (claimed.status, claimed.reviewer) == (RxStatus.UNDER_REVIEW, pharmacist)
    before = state()

    assert refused("review_taken", review, colleague, rx, approve=True).status == 409
    refused("invalid_transition", reviewing.claim_review, actor=colleague, prescription_id=rx.pk)
    refused("not_your_review", reviewing.release_review, actor=colleague, prescription_id=rx.pk)
    assert state() == before

    review(pharmacist, rx, approve=True)
    rx.refresh_from_db()
    assert (rx.status, rx.reviewer) == (RxStatus.APPROVED, pharmacist)


def test_releasing_puts_it_back_for_anyone(rx, pharmacist, colleague):
    reviewing.claim_review(actor=pharmacist, prescription_id=rx.pk)
    released = reviewing.release_review(actor=pharmacist, prescription_id=rx.pk)
    assert (released.status, released.reviewer) == (RxStatus.SIGNED, None)
    refused("not_your_review", reviewing.release_review, actor=pharmacist, prescription_id=rx.pk)

    review(colleague, rx, approve=False, reasons=["other"], comment="请补充诊断依据")
    rx.refresh_from_db()
    assert (rx.status, rx.reviewer) == (RxStatus.REJECTED, colleague)


def test_claiming_is_an_audited_read(rx, pharmacist):
    reviewing.claim_review(actor=pharmacist, prescription_id=rx.pk)
    assert AuditEvent.objects.filter(actor=pharmacist, action=AuditAction.READ, object_id=str(rx.pk)).exists()


# ---- new findings since the doctor signed ---------------------------------------------------------------------


def test_a_finding_that_appeared_after_signing_needs_acknowledging(rx, pharmacist, patient):
    allergy = records.add_allergy(actor=patient.user, patient_id=patient.pk, substance="氨氯地平过敏")
    key = f"allergy:CV-AML-5:{allergy.pk}"
    before = state()

    error = refused("check_findings_unacknowledged", review, pharmacist, rx, approve=True)

    assert error.status == 409 and set(error.fields) == {key}
    assert state() == before
    result = review(pharmacist, rx, approve=True, acknowledge=True, comment="已电话确认既往可耐受")
    assert [f["key"] for f in result.findings] == [key]


def test_rejecting_needs_no_acknowledgement(rx, pharmacist, patient):
    records.add_allergy(actor=patient.user, patient_id=patient.pk, substance="氨氯地平过敏")
    result = review(pharmacist, rx, approve=False, reasons=["contraindication"], comment="患者对氨氯地平过敏")
    assert result.decision == "rejected"


def test_findings_the_doctor_overrode_need_no_acknowledgement(doc, visit, pharmacist):
    rx = sign(doc, draft(doc, visit, item(amlodipine(), dose="10", frequency="bid", duration_days=7)),
              {"dose:CV-AML-5": "短期加量"})
    result = review(pharmacist, rx, approve=True)
    assert [(f["key"], f["override"]) for f in result.findings] == [("dose:CV-AML-5", "短期加量")]


# ---- the doctor's revision ------------------------------------------------------------------------------------


def test_a_rejected_prescription_is_revised_into_a_new_draft(rx, pharmacist, doc):
    reject(pharmacist, rx)

    revision = services.revise_prescription(actor=doc.user, prescription_id=rx.pk)

    assert (revision.status, revision.revision_of, revision.visit, revision.kind) == (
        RxStatus.DRAFT, rx, rx.visit, rx.kind)
    assert revision.refills_allowed == rx.refills_allowed and revision.number != rx.number
    assert [(i.drug_id, i.dose, i.quantity) for i in revision.items.all()] == [
        (i.drug_id, i.dose, i.quantity) for i in rx.items.all()]
    rx.refresh_from_db()
    assert rx.status == RxStatus.REJECTED  # the rejected one stays as it was
    before = state()
    assert refused("already_revised", services.revise_prescription, actor=doc.user,
                   prescription_id=rx.pk).status == 409
    assert state() == before

    # The revision is edited and signed like any draft; its hash names what it revises.
    services.update_prescription(actor=doc.user, prescription_id=revision.pk, notes="减量")
    revision = sign(doc, revision)
    assert services.content_of(revision)["revision_of"] == rx.number


def test_a_cancelled_revision_can_be_written_again(rx, pharmacist, doc):
    reject(pharmacist, rx)
    first = services.revise_prescription(actor=doc.user, prescription_id=rx.pk)
    services.cancel_prescription(actor=doc.user, prescription_id=first.pk, reason="")
    second = services.revise_prescription(actor=doc.user, prescription_id=rx.pk)
    assert second.revision_of == rx and second.pk != first.pk


def test_only_a_rejected_prescription_by_its_own_doctor_is_revised(rx, pharmacist, doc, department):
    refused("not_rejected", services.revise_prescription, actor=doc.user, prescription_id=rx.pk)
    reject(pharmacist, rx)
    other = online_doctor(department)
    before = state()
    refused("not_found", services.revise_prescription, actor=other.user, prescription_id=rx.pk)
    assert state() == before


# ---- only approved prescriptions are paid for and dispensed --------------------------------------------------------


def test_only_an_approved_valid_prescription_is_dispensable(rx, pharmacist):
    assert refused("prescription_not_approved", services.require_dispensable, rx).status == 409
    approve(pharmacist, rx)
    services.require_dispensable(rx)
    Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    rx.refresh_from_db()
    refused("prescription_expired", services.require_dispensable, rx)


def test_dispensing_happens_once(rx, pharmacist, doc):
    refused("prescription_not_approved", services.mark_dispensed, actor=pharmacist, prescription_id=rx.pk)
    approve(pharmacist, rx)
    refused("not_a_pharmacist", services.mark_dispensed, actor=doc.user, prescription_id=rx.pk)

    dispensed = services.mark_dispensed(actor=pharmacist, prescription_id=rx.pk)
    assert dispensed.status == RxStatus.DISPENSED and dispensed.dispensed_at is not None
    before = state()

    assert refused("prescription_not_approved", services.mark_dispensed, actor=pharmacist,
                   prescription_id=rx.pk).status == 409
    assert state() == before


def test_a_prescription_past_its_validity_is_not_reviewed(rx, pharmacist):
    Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    before = state()
    refused("prescription_expired", review, pharmacist, rx, approve=True)
    assert state() == before


# ---- expiry --------------------------------------------------------------------------------------------------


def past_validity(rx):
    Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("decide", [None, "claim", "approve"])
def test_an_undispensed_prescription_expires_when_its_validity_passes(rx, pharmacist, decide):
    if decide == "claim":
        reviewing.claim_review(actor=pharmacist, prescription_id=rx.pk)
    elif decide == "approve":
        approve(pharmacist, rx)
    past_validity(rx)

    assert services.expire_prescription(prescription_id=rx.pk) is True

    rx.refresh_from_db()
    assert rx.status == RxStatus.EXPIRED and "3" in rx.status_reason
    assert timeline(rx).last().to_status == "expired"
    assert services.expire_prescription(prescription_id=rx.pk) is False  # once


def test_the_expiry_task_leaves_the_others_alone(rx, pharmacist, doc, visit):
    # Not yet due:
    assert tasks.expire_prescription.call(rx.pk) == "skipped"
    # Dispensed, then the validity passes:
    approve(pharmacist, rx)
    services.mark_dispensed(actor=pharmacist, prescription_id=rx.pk)
    past_validity(rx)
    assert tasks.expire_prescription.call(rx.pk) == "skipped"
    # A draft, a cancelled one, an unknown id:
    unsigned = draft(doc, visit, item(metformin(), dose="500"))
    assert tasks.expire_prescription.call(unsigned.pk) == "skipped"
    assert tasks.expire_prescription.call(10**9) == "skipped"
    rx.refresh_from_db()
    assert rx.status == RxStatus.DISPENSED

    due = sign(doc, draft(doc, visit, item(DrugFactory())))
    past_validity(due)
    assert tasks.expire_prescription.call(due.pk) == "expired"


def test_dispensing_an_unknown_prescription_is_404(pharmacist):
    assert refused("not_found", services.mark_dispensed, actor=pharmacist, prescription_id=10**9).status == 404
