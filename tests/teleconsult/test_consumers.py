"""Consultation's sockets against the real ASGI application (origin check, session auth, routing) and the channel
layer the settings choose: the pages' live socket ``ws/teleconsult/live/`` and a session's mesh signalling
``ws/teleconsult/session/<id>/`` (presence, signals to one peer only, shared viewing, room full, end)."""

from __future__ import annotations

import contextlib
import json

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from ihospital.teleconsult import realtime
from ihospital.teleconsult.consumers import Roster
from ihospital.teleconsult.models import ConsultSession, SessionStatus
from tests.factories import PatientFactory, StaffUserFactory
from tests.prescriptions.test_consumers import committed, headers_of
from tests.teleconsult.factories import AdminFactory, ExpertFactory, with_device
from tests.teleconsult.test_sessions import attach_document, case, live_session
from tests.visits.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db

LIVE = "/ws/teleconsult/live/"
TIMEOUT = 5
QUIET = 0.3


def run(scenario) -> None:
    async_to_sync(scenario)()


_HEADERS: dict = {}


def H(user):  # noqa: N802 - short: the headers of a browser signed in as ``user`` (made by ``prepare``)
    return _HEADERS[user.pk]


def prepare(*users) -> None:
    """Sign these users in (before the async scenario: that may not touch the database)."""
    for user in users:
        _HEADERS[user.pk] = browser_of(user)


def browser_of(user, *, second_factor: bool = True):
    if user.needs_second_factor:
        with_device(user)
    return headers_of(user, second_factor=second_factor)


def room(session) -> str:
    return f"/ws/teleconsult/session/{session.pk}/"


@pytest.fixture(autouse=True)
def _fresh_rosters():
    """Rosters live in the cache (ids repeat between tests on SQLite, and between runs). Only the rosters are
    cleared: with Redis the cache shares its database with the channel layer."""
    stale = [Roster(i).key for i in range(1, 3000)]
    cache.delete_many(stale)
    yield
    cache.delete_many(stale)


class Sockets:
    def __init__(self):
        self.open: list[WebsocketCommunicator] = []

    async def join(self, path, headers) -> tuple[WebsocketCommunicator, dict]:
        from ihospital.asgi import application

        socket = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await socket.connect(timeout=TIMEOUT)
        assert connected, code
        hello = await socket.receive_json_from(timeout=TIMEOUT)
        assert hello["type"] == "hello", hello
        self.open.append(socket)
        return socket, hello

    async def close(self):
        for socket in self.open:
            with contextlib.suppress(Exception):  # already closed by the server
                await socket.disconnect()


async def frame(socket, kind: str) -> dict:
    data = await socket.receive_json_from(timeout=TIMEOUT)
    assert data["type"] == kind, data
    return data


async def silent(socket) -> bool:
    return await socket.receive_nothing(timeout=QUIET)


async def refused(path, headers) -> tuple[dict | None, int]:
    """The error frame (if any) and the close code of a socket the server refuses."""
    from ihospital.asgi import application

    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=TIMEOUT)
    if not connected:
        return None, code
    first = await socket.receive_output(TIMEOUT)
    if first["type"] == "websocket.close":
        return None, first.get("code")
    error = json.loads(first["text"])
    closing = await socket.receive_output(TIMEOUT)
    assert closing["type"] == "websocket.close", closing
    return error, closing.get("code")


# ---- the pages' live socket ---------------------------------------------------------------------------------------


def test_live_socket_refuses_anonymous_and_staff_without_the_second_factor():
    from ihospital.asgi import application

    c = case()
    refusals = [headers_of(None), browser_of(c.lead, second_factor=False),
                browser_of(c.coordinator, second_factor=False)]

    async def scenario():
        for headers in refusals:
            assert await WebsocketCommunicator(application, LIVE, headers=headers).close_code(timeout=TIMEOUT) == 4401

    run(scenario)


def test_live_socket_tells_the_board_the_doctors_and_the_patient_but_not_others():
    c = case()
    admin = AdminFactory()
    stranger_doctor = with_device(ExpertFactory().user)
    stranger_patient = PatientFactory().user
    people = [c.coordinator, admin, c.referrer, c.lead, c.members[0], c.patient, stranger_doctor, stranger_patient]
    headers = [browser_of(u) for u in people]

    async def scenario():
        sockets = Sockets()
        joined = [(await sockets.join(LIVE, h))[0] for h in headers]
        *told, other_doctor, other_patient = joined
        await committed(lambda: realtime.request_changed(c.request))
        expected = {"type": "changed", "what": "request", "id": c.request.pk, "status": c.request.status}
        for socket in told:
            assert await frame(socket, "changed") == expected
        assert await silent(other_doctor) and await silent(other_patient)
        await joined[0].send_json_to({"type": "ping"})
        assert await frame(joined[0], "pong")
        await sockets.close()

    run(scenario)


# ---- a session's signalling -----------------------------------------------------------------------------------------


def test_only_participants_join_and_the_first_join_starts_the_session():
    c = case()
    session = live_session(c)
    outsiders = [browser_of(u) for u in
                 (c.coordinator, c.patient, with_device(ExpertFactory().user), StaffUserFactory())]
    anonymous, half_signed_in = headers_of(None), browser_of(c.lead, second_factor=False)
    lead, referrer = browser_of(c.lead), browser_of(c.referrer)

    async def scenario():
        for headers in outsiders:
            assert (await refused(room(session), headers))[1] == 4404
        assert (await refused(room(session), anonymous))[1] == 4401
        assert (await refused(room(session), half_signed_in))[1] == 4401
        assert (await refused(f"/ws/teleconsult/session/{session.pk + 999}/", lead))[1] == 4404
        sockets = Sockets()
        _, hello = await sockets.join(room(session), referrer)
        assert hello["role"] == "referrer" and hello["status"] == "live" and hello["peers"] == []
        assert hello["peer_id"] and "ice_servers" in hello and hello["shared"] is None
        await sockets.close()

    run(scenario)
    session.refresh_from_db()
    assert session.status == SessionStatus.LIVE and session.started_at


def test_presence_signals_to_one_peer_only_and_leaving():
    c = case(members=1)
    session = live_session(c)
    prepare(c.referrer, c.lead, c.members[0])

    async def scenario():
        sockets = Sockets()
        ref, ref_hello = await sockets.join(room(session), H(c.referrer))
        lead, lead_hello = await sockets.join(room(session), H(c.lead))
        # The newcomer sees who is there; those there hear of the newcomer (name and role, no channel).
        assert [p["peer_id"] for p in lead_hello["peers"]] == [ref_hello["peer_id"]]
        assert lead_hello["peers"][0] == {"peer_id": ref_hello["peer_id"], "user_id": c.referrer.pk,
                                          "name": c.referrer.real_name, "role": "referrer"}
        joined = await frame(ref, "peer_joined")
        assert joined["peer"] == {"peer_id": lead_hello["peer_id"], "user_id": c.lead.pk,
                                  "name": c.lead.real_name, "role": "expert"}
        member, member_hello = await sockets.join(room(session), H(c.members[0]))
        assert {p["peer_id"] for p in member_hello["peers"]} == {ref_hello["peer_id"], lead_hello["peer_id"]}
        for socket in (ref, lead):
            assert (await frame(socket, "peer_joined"))["peer"]["peer_id"] == member_hello["peer_id"]

        # A signal reaches the addressed peer only, marked with the sender's peer id.
        offer = {"description": {"type": "offer", "sdp": "v=0"}}
        await ref.send_json_to({"type": "signal", "to": member_hello["peer_id"], "data": offer})
        got = await frame(member, "signal")
        assert got == {"type": "signal", "from": ref_hello["peer_id"], "data": offer}
        assert await silent(lead) and await silent(ref)

        # To nobody, to oneself, or not an object: an error to the sender, nothing to the others.
        for bad in ({"to": "nobody", "data": offer}, {"to": ref_hello["peer_id"], "data": offer},
                    {"to": lead_hello["peer_id"], "data": "text"}, {"data": offer},
                    {"to": lead_hello["peer_id"], "data": {"x": "y" * 200_000}}):
            await ref.send_json_to({"type": "signal", **bad})
            assert (await frame(ref, "error"))["code"] in ("unknown_peer", "invalid_signal")
        assert await silent(lead) and await silent(member)

        # Leaving: the others are told.
        await member.disconnect()
        sockets.open.remove(member)
        for socket in (ref, lead):
            assert await frame(socket, "peer_left") == {"type": "peer_left", "peer_id": member_hello["peer_id"]}
        await sockets.close()

    run(scenario)
    assert Roster(session.pk).peers() == {}


def test_a_fifth_participant_is_refused_room_full(settings):
    settings.TELECONSULT_MAX_PARTICIPANTS = 4
    c = case(members=2)
    session = live_session(c, include_patient=False)
    # Invite the patient afterwards (the schedule check counts seats; the socket enforces the limit anyway).
    ConsultSession.objects.filter(pk=session.pk).update(include_patient=True)
    first_four = [c.referrer, c.lead, *c.members]
    prepare(*first_four, c.patient)

    async def scenario():
        sockets = Sockets()
        for user in first_four:
            await sockets.join(room(session), H(user))
        error, code = await refused(room(session), H(c.patient))
        assert code == 4409
        assert error["type"] == "error" and error["code"] == "room_full" and error["message"]
        for socket in sockets.open:
            # Nobody heard of the refused peer.
            while not await silent(socket):
                data = await socket.receive_json_from(timeout=TIMEOUT)
                assert data["type"] == "peer_joined" and data["peer"]["user_id"] != c.patient.pk
        # One leaves: the patient gets in.
        leaving = sockets.open.pop()
        await leaving.disconnect()
        _, hello = await sockets.join(room(session), H(c.patient))
        assert hello["role"] == "patient" and len(hello["peers"]) == 3
        await sockets.close()

    run(scenario)


def test_a_second_window_of_the_same_user_replaces_the_first():
    c = case()
    session = live_session(c)
    prepare(c.referrer, c.lead)

    async def scenario():
        sockets = Sockets()
        ref, ref_hello = await sockets.join(room(session), H(c.referrer))
        old, old_hello = await sockets.join(room(session), H(c.lead))
        await frame(ref, "peer_joined")
        new, new_hello = await sockets.join(room(session), H(c.lead))
        assert [p["peer_id"] for p in new_hello["peers"]] == [ref_hello["peer_id"]]
        assert (await frame(old, "error"))["code"] == "replaced"
        closing = await old.receive_output(TIMEOUT)
        assert closing == {"type": "websocket.close", "code": 4000}
        sockets.open.remove(old)
        seen = [await ref.receive_json_from(timeout=TIMEOUT) for _ in range(2)]
        assert {"type": "peer_left", "peer_id": old_hello["peer_id"]} in seen
        assert any(f["type"] == "peer_joined" and f["peer"]["peer_id"] == new_hello["peer_id"] for f in seen)
        await sockets.close()

    run(scenario)


def test_sharing_reaches_everyone_and_a_late_joiner_sees_it():
    c = case(members=1)
    attachment = attach_document(c, title="冠脉CTA报告")
    other = attach_document(case())
    session = live_session(c)
    prepare(c.referrer, c.lead, c.members[0])

    async def scenario():
        sockets = Sockets()
        ref, _ = await sockets.join(room(session), H(c.referrer))
        lead, lead_hello = await sockets.join(room(session), H(c.lead))
        await frame(ref, "peer_joined")
        await lead.send_json_to({"type": "share", "attachment_id": attachment.pk})
        for socket in (ref, lead):
            shared = await frame(socket, "shared")
            assert shared["attachment"] == {"id": attachment.pk, "kind": "document", "title": "冠脉CTA报告"}
            assert shared["by"] == {"peer_id": lead_hello["peer_id"], "name": c.lead.real_name, "role": "expert"}
        await ref.send_json_to({"type": "share", "attachment_id": other.pk})
        assert (await frame(ref, "error"))["code"] == "invalid_attachment"
        assert await silent(lead)
        _, member_hello = await sockets.join(room(session), H(c.members[0]))
        assert member_hello["shared"]["id"] == attachment.pk
        await sockets.close()

    run(scenario)
    session.refresh_from_db()
    assert session.shared_attachment_id == attachment.pk


def test_ending_closes_everyone_and_nobody_rejoins():
    c = case()
    session = live_session(c, include_patient=True)
    prepare(c.referrer, c.patient, c.lead)

    async def scenario():
        sockets = Sockets()
        ref, _ = await sockets.join(room(session), H(c.referrer))
        patient, _ = await sockets.join(room(session), H(c.patient))
        await frame(ref, "peer_joined")
        await patient.send_json_to({"type": "end"})
        assert (await frame(patient, "error"))["code"] == "not_allowed"
        await patient.send_json_to({"type": "nonsense"})
        assert (await frame(patient, "error"))["code"] == "unknown_type"
        await ref.send_json_to({"type": "end"})
        for socket in (ref, patient):
            ended = await frame(socket, "ended")
            assert ended["by"] == c.referrer.real_name
        error, code = await refused(room(session), H(c.lead))
        assert code == 4410 and error["code"] == "session_closed"

    run(scenario)
    session.refresh_from_db()
    assert session.status == SessionStatus.ENDED


def test_a_cancelled_session_cannot_be_joined():
    c = case()
    session = live_session(c)
    from ihospital.teleconsult import sessions

    sessions.cancel_session(actor=c.coordinator, session_id=session.pk, reason="改期")
    prepare(c.referrer)

    async def scenario():
        error, code = await refused(room(session), H(c.referrer))
        assert code == 4410 and error["code"] == "session_closed" and error["message"]

    run(scenario)
