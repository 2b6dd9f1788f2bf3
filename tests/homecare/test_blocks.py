"""Blocking a patient who endangered a nurse (assessing.block, unblock): only the hospital's administration, the
open requests not yet under way are cancelled (charts closed to their nurses), booking is refused while the block
holds, one active block per patient, and lifting it needs a reason."""

from __future__ import annotations

import pytest

from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.homecare import assessing
from ihospital.homecare.models import Block, NurseVisit, RequestStatus
from ihospital.records.selectors import access_of
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

REASON = "2024-11-20 家属对护士言语威胁并阻止其离开"


def refusal(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_an_admin_blocks_a_patient_and_their_pending_requests_are_cancelled(
        elder, nurse, other_nurse, dispatcher, admin_user):
    waiting = f.booked(elder, code="wound_dressing")
    assessing_now = f.booked(elder, code="ostomy_care")
    assessing.claim(actor=other_nurse, request_id=assessing_now.pk)
    planned = f.accepted(f.booked(elder, code="pressure_ulcer"), nurse)
    f.scheduled(planned, nurse, by=dispatcher)
    assert access_of(nurse, elder) == access_of(other_nurse, elder) == "clinician"

    row = assessing.block(actor=admin_user, patient_id=elder.pk, reason=REASON)

    assert row.blocked_by == admin_user and row.lifted_at is None
    for req in (waiting, assessing_now, planned):
        req.refresh_from_db()
        assert req.status == RequestStatus.CANCELLED
    assert not NurseVisit.objects.exists()
    assert access_of(other_nurse, elder) is None
    assert access_of(nurse, elder) == "clinician"  # assessed the pressure-ulcer request: until its window ends
    # And booking is refused while the block holds.
    assert refusal(lambda: f.booked(elder, code="wound_dressing", day=f.tomorrow())) == "patient_blocked"


def test_a_request_under_way_is_left_alone(elder, nurse, admin_user):
    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)
    assessing.block(actor=admin_user, patient_id=elder.pk, reason=REASON)
    visit.request.refresh_from_db()
    assert visit.request.status == RequestStatus.IN_SERVICE


def test_only_admins_block_and_unblock(elder, nurse, dispatcher, guard, admin_user):
    req = f.booked(elder)
    for outsider in (nurse, dispatcher, guard, elder.user):
        with pytest.raises(Forbidden) as caught:
            assessing.block(actor=outsider, patient_id=elder.pk, reason=REASON)
        assert caught.value.code == "not_an_admin"
    assert not Block.objects.exists()
    req.refresh_from_db()
    assert req.status == RequestStatus.REQUESTED
    assessing.block(actor=admin_user, patient_id=elder.pk, reason=REASON)
    with pytest.raises(Forbidden):
        assessing.unblock(actor=dispatcher, patient_id=elder.pk, reason="误会已澄清")
    assert Block.objects.get().lifted_at is None


def test_a_block_needs_a_reason_and_a_real_patient(elder, admin_user):
    assert refusal(lambda: assessing.block(actor=admin_user, patient_id=elder.pk, reason=" 吵 ")) == "reason_required"
    with pytest.raises(NotFound):
        assessing.block(actor=admin_user, patient_id=elder.pk + 999, reason=REASON)
    assert not Block.objects.exists()


def test_a_second_block_is_refused_as_already_blocked(elder, admin_user):
    assessing.block(actor=admin_user, patient_id=elder.pk, reason=REASON)
    with pytest.raises(Conflict) as caught:
        assessing.block(actor=admin_user, patient_id=elder.pk, reason="再次威胁护士，报警处理")
    assert caught.value.code == "already_blocked"
    assert Block.objects.count() == 1


def test_unblocking_lifts_the_block_with_a_reason_and_booking_works_again(elder, admin_user):
    assessing.block(actor=admin_user, patient_id=elder.pk, reason=REASON)
    assert refusal(lambda: assessing.unblock(actor=admin_user, patient_id=elder.pk, reason="")) == "reason_required"
    row = assessing.unblock(actor=admin_user, patient_id=elder.pk, reason="经沟通家属已道歉，恢复服务")
    assert row.lifted_by == admin_user and row.lifted_at and row.lift_reason.startswith("经沟通")
    assert f.booked(elder).status == RequestStatus.REQUESTED
    assert refusal(lambda: assessing.unblock(actor=admin_user, patient_id=elder.pk, reason="again")) == "not_blocked"
    # Lifted blocks stay on file; a new block is possible.
    assessing.block(actor=admin_user, patient_id=elder.pk, reason=REASON)
    assert Block.objects.count() == 2 and Block.objects.filter(lifted_at__isnull=True).count() == 1
    with pytest.raises(TypeError):
        row.delete()
