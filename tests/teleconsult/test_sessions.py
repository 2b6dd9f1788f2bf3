"""Live sessions (``teleconsult.sessions``): scheduling by the coordinator or the lead expert, the first join
starting the session, ending, cancelling, and the shared attachment; and who is refused.

The request under test is built directly in its state (``case``), so these tests do not depend on the request and
triage services; those have their own tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.accounts.models import ConsentKind
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.notifications.models import Notification
from ihospital.teleconsult import sessions
from ihospital.teleconsult.models import (
    Assignment,
    AssignmentRole,
    Attachment,
    AttachmentKind,
    ConsultSession,
    SessionStatus,
    Status,
)
from tests.factories import ConsentFactory, PatientFactory, StaffUserFactory, UserFactory
from tests.teleconsult.factories import ConsultRequestFactory, CoordinatorFactory, ExpertFactory, with_device
from tests.visits.factories import DocumentFactory

pytestmark = pytest.mark.django_db


class Case:
    """A consultation with its people: ``referrer``, ``lead``, ``members``, ``coordinator``, ``patient`` (User)."""

    def __init__(self, request, referrer, lead, members, coordinator):
        self.request = request
        self.referrer = referrer
        self.lead = lead
        self.members = members
        self.coordinator = coordinator
        self.patient = request.patient.user

    @property
    def experts(self):
        return [self.lead, *self.members]


def case(*, members: int = 1, status: str = Status.IN_REVIEW) -> Case:
    """A sent request with the patient's consent, a lead expert and ``members`` members (all accepted)."""
    patient = PatientFactory()
    consent = ConsentFactory(patient=patient, kind=ConsentKind.RECORD_SHARING, given_by=patient.user)
    request = ConsultRequestFactory(patient=patient, status=status, consent=consent, submitted_at=timezone.now())
    consent.subject = f"consult:{request.pk}"
    consent.save(update_fields=["subject"])
    coordinator = CoordinatorFactory()
    lead = ExpertFactory().user
    others = [ExpertFactory().user for _ in range(members)]
    for i, expert in enumerate([lead, *others]):
        Assignment.objects.create(request=request, expert=expert, assigned_by=coordinator,
                                  role=AssignmentRole.LEAD if i == 0 else AssignmentRole.MEMBER,
                                  accepted_at=timezone.now())
    return Case(request, request.referring_doctor, lead, others, coordinator)


def attach_document(c: Case, *, title: str = "出院小结") -> Attachment:
    document = DocumentFactory(patient=c.request.patient, title=title)
    return Attachment.objects.create(request=c.request, kind=AttachmentKind.DOCUMENT, document=document,
                                     added_by=c.referrer)


def live_session(c: Case, *, include_patient: bool = False, in_minutes: int = 5) -> ConsultSession:
    return sessions.schedule_session(actor=c.coordinator, request_id=c.request.pk,
                                     starts_at=timezone.now() + timedelta(minutes=in_minutes),
                                     include_patient=include_patient)


def code_of(excinfo) -> str:
    return excinfo.value.code


def soon(minutes: int = 10):
    return timezone.now() + timedelta(minutes=minutes)


# ---- scheduling ----------------------------------------------------------------------------------------------


def test_the_coordinator_schedules_and_the_participants_are_told():
    c = case(members=1)
    session = sessions.schedule_session(actor=c.coordinator, request_id=c.request.pk, starts_at=soon(60),
                                        minutes=45)
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED
    assert session.minutes == 45 and not session.include_patient and session.created_by == c.coordinator
    told = set(Notification.objects.filter(kind="teleconsult.session_scheduled").values_list("user_id", flat=True))
    assert told == {c.referrer.pk, c.lead.pk, c.members[0].pk}
    assert all(n.link == f"/teleconsult/sessions/{session.pk}/"
               for n in Notification.objects.filter(kind="teleconsult.session_scheduled"))
    assert AuditEvent.objects.filter(object_type="teleconsult.consultsession", object_id=str(session.pk),
                                     action="create").exists()


def test_the_lead_may_schedule_and_invite_the_patient_who_is_told():
    c = case(members=0)
    session = sessions.schedule_session(actor=c.lead, request_id=c.request.pk, starts_at=soon(),
                                        include_patient=True)
    assert session.include_patient
    told = set(Notification.objects.filter(kind="teleconsult.session_scheduled").values_list("user_id", flat=True))
    assert told == {c.referrer.pk, c.patient.pk}  # not the lead who scheduled it


def test_a_member_expert_may_not_schedule_and_outsiders_get_404():
    c = case(members=1)
    with pytest.raises(DomainError) as exc:
        sessions.schedule_session(actor=c.members[0], request_id=c.request.pk, starts_at=soon())
    assert code_of(exc) == "not_lead"
    stranger = with_device(ExpertFactory().user)
    for actor in (c.referrer, c.patient, stranger):
        with pytest.raises(NotFound):
            sessions.schedule_session(actor=actor, request_id=c.request.pk, starts_at=soon())
    assert not ConsultSession.objects.exists()
    assert AuditEvent.objects.filter(actor=stranger, outcome=AuditOutcome.DENIED).exists()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"starts_at": "tomorrow"}, "invalid_start"),
        ({"starts_at": timezone.now().replace(tzinfo=None)}, "invalid_start"),
        ({"starts_at": timezone.now() - timedelta(hours=1)}, "session_in_past"),
        ({"minutes": 5}, "invalid_minutes"),
        ({"minutes": 600}, "invalid_minutes"),
        ({"minutes": "30"}, "invalid_minutes"),
    ],
)
def test_bad_input_is_refused_with_a_clear_code(kwargs, code):
    c = case()
    args = {"starts_at": soon(), **kwargs}
    with pytest.raises(DomainError) as exc:
        sessions.schedule_session(actor=c.coordinator, request_id=c.request.pk, **args)
    assert code_of(exc) == code
    assert str(exc.value.message)
    assert not ConsultSession.objects.exists()


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.REPORTED, Status.CANCELLED])
def test_only_an_assigned_or_reviewed_request_gets_a_session(status):
    c = case(status=status)
    with pytest.raises(DomainError) as exc:
        sessions.schedule_session(actor=c.coordinator, request_id=c.request.pk, starts_at=soon())
    assert code_of(exc) == "not_schedulable"


def test_more_invited_than_a_mesh_carries_is_refused(settings):
    settings.TELECONSULT_MAX_PARTICIPANTS = 4
    c = case(members=2)  # referrer + 3 experts = 4
    with pytest.raises(DomainError) as exc:
        sessions.schedule_session(actor=c.coordinator, request_id=c.request.pk, starts_at=soon(),
                                  include_patient=True)
    assert code_of(exc) == "too_many_participants"
    assert sessions.schedule_session(actor=c.coordinator, request_id=c.request.pk, starts_at=soon())


def test_one_open_session_per_request():
    c = case()
    first = live_session(c)
    with pytest.raises(DomainError) as exc:
        live_session(c)
    assert code_of(exc) == "session_exists"
    sessions.cancel_session(actor=c.coordinator, session_id=first.pk, reason="专家临时手术")
    assert live_session(c).pk != first.pk


# ---- cancelling ------------------------------------------------------------------------------------------------


def test_cancel_needs_a_reason_and_tells_the_participants():
    c = case()
    session = live_session(c)
    with pytest.raises(DomainError) as exc:
        sessions.cancel_session(actor=c.coordinator, session_id=session.pk, reason="  ")
    assert code_of(exc) == "reason_required"
    sessions.cancel_session(actor=c.lead, session_id=session.pk, reason="专家临时手术")
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    told = set(Notification.objects.filter(kind="teleconsult.session_cancelled").values_list("user_id", flat=True))
    assert told == {c.referrer.pk, c.members[0].pk}
    with pytest.raises(DomainError) as exc:
        sessions.cancel_session(actor=c.coordinator, session_id=session.pk, reason="again")
    assert code_of(exc) == "session_closed"


def test_participants_who_do_not_organise_cannot_cancel():
    c = case()
    session = live_session(c)
    with pytest.raises(DomainError) as exc:
        sessions.cancel_session(actor=c.members[0], session_id=session.pk, reason="x")
    assert code_of(exc) == "not_lead"
    for actor in (c.referrer, c.patient, UserFactory()):
        with pytest.raises(NotFound):
            sessions.cancel_session(actor=actor, session_id=session.pk, reason="x")
    with pytest.raises(NotFound):
        sessions.cancel_session(actor=c.coordinator, session_id=session.pk + 1000, reason="x")
    session.refresh_from_db()
    assert session.status == SessionStatus.SCHEDULED


# ---- joining, ending -----------------------------------------------------------------------------------------------


def test_the_first_join_starts_the_session_and_later_joins_do_not_change_it():
    c = case()
    session = live_session(c)
    joined, role = sessions.join_session(actor=c.referrer, session_id=session.pk)
    assert role == "referrer" and joined.status == SessionStatus.LIVE and joined.started_at
    started = joined.started_at
    again, role = sessions.join_session(actor=c.lead, session_id=session.pk)
    assert role == "expert" and again.started_at == started


def test_joining_too_early_or_after_the_end_is_refused():
    c = case()
    session = live_session(c, in_minutes=120)
    with pytest.raises(DomainError) as exc:
        sessions.join_session(actor=c.referrer, session_id=session.pk)
    assert code_of(exc) == "session_not_open"
    session.starts_at = soon(5)
    session.save(update_fields=["starts_at"])
    sessions.join_session(actor=c.referrer, session_id=session.pk)
    sessions.end_session(actor=c.lead, session_id=session.pk)
    with pytest.raises(DomainError) as exc:
        sessions.join_session(actor=c.members[0], session_id=session.pk)
    assert code_of(exc) == "session_closed"


def test_who_may_join():
    c = case()
    closed = live_session(c)
    # Not invited: the patient cannot join; the coordinator arranges but does not join; strangers get 404.
    for actor in (c.patient, c.coordinator, with_device(ExpertFactory().user), StaffUserFactory()):
        with pytest.raises(NotFound):
            sessions.join_session(actor=actor, session_id=closed.pk)
    sessions.cancel_session(actor=c.coordinator, session_id=closed.pk, reason="改期")
    invited = live_session(c, include_patient=True)
    _, role = sessions.join_session(actor=c.patient, session_id=invited.pk)
    assert role == "patient"
    # An expert whose assignment ended is no longer a participant.
    Assignment.objects.filter(expert=c.members[0]).update(ended_at=timezone.now(), end_reason="withdrawn")
    with pytest.raises(NotFound):
        sessions.join_session(actor=c.members[0], session_id=invited.pk)


def test_end_only_a_live_session_and_not_by_the_patient():
    c = case()
    session = live_session(c, include_patient=True)
    with pytest.raises(DomainError) as exc:
        sessions.end_session(actor=c.referrer, session_id=session.pk)
    assert code_of(exc) == "session_not_started"
    sessions.join_session(actor=c.patient, session_id=session.pk)
    with pytest.raises(NotFound):
        sessions.end_session(actor=c.patient, session_id=session.pk)
    ended = sessions.end_session(actor=c.referrer, session_id=session.pk)
    ended.refresh_from_db()
    assert ended.status == SessionStatus.ENDED and ended.ended_at
    with pytest.raises(DomainError) as exc:
        sessions.end_session(actor=c.coordinator, session_id=session.pk)
    assert code_of(exc) == "session_closed"


# ---- shared viewing --------------------------------------------------------------------------------------------------


def test_any_participant_shares_one_of_the_request_attachments():
    c = case()
    first, second = attach_document(c, title="出院小结"), attach_document(c, title="心电图报告")
    session = live_session(c)
    sessions.join_session(actor=c.referrer, session_id=session.pk)
    sessions.share(actor=c.referrer, session_id=session.pk, attachment_id=first.pk)
    session.refresh_from_db()
    assert session.shared_attachment == first
    sessions.share(actor=c.members[0], session_id=session.pk, attachment_id=second.pk)
    session.refresh_from_db()
    assert session.shared_attachment == second
    assert AuditEvent.objects.filter(actor=c.members[0], object_type="teleconsult.consultsession",
                                     action="update", detail__shared_attachment=second.pk).exists()


def test_sharing_someone_else_or_a_removed_attachment_is_refused():
    c, other = case(), case()
    theirs = attach_document(other)
    removed = attach_document(c)
    Attachment.objects.filter(pk=removed.pk).update(removed_at=timezone.now())
    session = live_session(c)
    for bad in (theirs.pk, removed.pk, "x", None):
        with pytest.raises(DomainError) as exc:
            sessions.share(actor=c.lead, session_id=session.pk, attachment_id=bad)
        assert code_of(exc) == "invalid_attachment"
    with pytest.raises(NotFound):
        sessions.share(actor=other.referrer, session_id=session.pk, attachment_id=theirs.pk)
    session.refresh_from_db()
    assert session.shared_attachment is None


def test_no_sharing_once_the_session_ended():
    c = case()
    attachment = attach_document(c)
    session = live_session(c)
    sessions.join_session(actor=c.lead, session_id=session.pk)
    sessions.end_session(actor=c.lead, session_id=session.pk)
    with pytest.raises(DomainError) as exc:
        sessions.share(actor=c.lead, session_id=session.pk, attachment_id=attachment.pk)
    assert code_of(exc) == "session_closed"


# ---- the session page ----------------------------------------------------------------------------------------------


def signed_in(client, user):
    from tests.helpers import verify_session

    client.force_login(user)
    if user.needs_second_factor:
        verify_session(client, with_device(user).totpdevice_set.get())
    return client


def page_url(session) -> str:
    return f"/teleconsult/sessions/{session.pk}/"


def test_the_page_shows_the_call_and_the_attachments_to_participants(client):
    c = case()
    first, second = attach_document(c, title="出院小结"), attach_document(c, title="心电图报告")
    session = live_session(c)
    sessions.share(actor=c.lead, session_id=session.pk, attachment_id=second.pk)
    response = signed_in(client, c.referrer).get(page_url(session))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="local-tile"' in html and 'id="tc-remote-template"' in html
    assert f'data-ws-path="/ws/teleconsult/session/{session.pk}/"' in html
    assert f'data-testid="share-{first.pk}"' in html and f'data-testid="share-{second.pk}"' in html
    # The shared attachment is in the viewer from the start.
    assert f'data-testid="viewer" data-attachment-id="{second.pk}"' in html
    assert "心电图报告" in html and 'data-testid="join"' in html
    assert response["Cache-Control"] == "no-store, private"


def test_the_viewer_fragment_of_a_document_and_of_someone_elses_attachment(client):
    c, other = case(), case()
    mine, theirs = attach_document(c, title="出院小结"), attach_document(other)
    session = live_session(c)
    client = signed_in(client, c.lead)
    response = client.get(page_url(session), {"part": "viewer", "attachment": mine.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="viewer-body"' in html and "出院小结" in html and 'data-testid="viewer-download"' in html
    assert "<html" not in html  # a fragment
    for bad in (theirs.pk, "x", 999999):
        assert client.get(page_url(session), {"part": "viewer", "attachment": bad}).status_code == 404


def test_the_page_is_404_for_non_participants_and_needs_the_second_factor(client):
    c = case()
    session = live_session(c)
    for user in (c.coordinator, c.patient, with_device(ExpertFactory().user)):
        client.logout()
        assert signed_in(client, user).get(page_url(session)).status_code == 404
    client.logout()
    client.force_login(c.referrer)  # no second factor in this session
    assert client.get(page_url(session)).status_code in (302, 403)


def test_the_viewer_of_lab_results_shows_the_values(client):
    from decimal import Decimal

    from ihospital.diagnostics.models import Observation, OrderStatus
    from tests.diagnostics.factories import AnalyteFactory, DiagnosticOrderFactory
    from tests.visits.factories import EncounterFactory

    c = case()
    analyte = AnalyteFactory(name_zh="空腹血糖", code="glu")
    encounter = EncounterFactory(patient=c.request.patient)
    order = DiagnosticOrderFactory(patient=c.request.patient, test=analyte.test, doctor=encounter.practitioner,
                                   encounter=encounter, status=OrderStatus.RELEASED, released_at=timezone.now())
    Observation.objects.create(order=order, analyte=analyte, value=Decimal("7.8"), unit="mmol/L", flag="H",
                               reference="3.9-6.1", observed_at=timezone.now(), entered_by=c.referrer)
    lab = Attachment.objects.create(request=c.request, kind=AttachmentKind.LAB, order=order, added_by=c.referrer)
    session = live_session(c)
    response = signed_in(client, c.members[0]).get(page_url(session), {"part": "viewer", "attachment": lab.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kind="lab"' in html and "空腹血糖" in html and "7.8" in html and 'data-flag="H"' in html
