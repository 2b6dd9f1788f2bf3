"""The visit and queue WebSockets against the real ASGI application (origin check, session auth, URL routing),
with the channel layer the settings choose: in memory by default, channels-redis when ``REDIS_URL`` is set.

Each test builds its data synchronously, then runs one async scenario through ``async_to_sync``: the consumers'
database calls come back to the test's thread, and broadcasts are sent when the services' transactions commit
(hence ``transaction=True``).
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client

from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.visits import chat, services
from ihospital.visits.models import Message, ReadMark
from tests.factories import PatientFactory
from tests.helpers import verify_session
from tests.visits import flows
from tests.visits.factories import ConditionFactory, online_doctor
from tests.visits.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5  # seconds to wait for a frame that must come
QUIET = 0.3  # seconds of silence that show a frame does not come


def run(scenario) -> None:
    async_to_sync(scenario)()


def socket_headers(user=None, *, second_factor: bool = True) -> list[tuple[bytes, bytes]]:
    """Headers of a browser signed in as ``user`` (staff with the second factor, unless told otherwise)."""
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        if second_factor and user.needs_second_factor:
            verify_session(client, user.totpdevice_set.get())
        headers.append((b"cookie", f"sessionid={client.session.session_key}".encode()))
    return headers


def communicator(path: str, headers) -> WebsocketCommunicator:
    from ihospital.asgi import application

    return WebsocketCommunicator(application, path, headers=headers)


async def open_socket(path: str, headers) -> tuple[WebsocketCommunicator, bool, int | None]:
    socket = communicator(path, headers)
    connected, code = await socket.connect(timeout=TIMEOUT)
    return socket, connected, code


async def close_code(path: str, headers) -> int | None:
    return await communicator(path, headers).close_code(timeout=TIMEOUT)


class Sockets:
    """Open sockets of a scenario, all closed at the end."""

    def __init__(self):
        self.open: list[WebsocketCommunicator] = []

    async def join(self, path: str, headers) -> WebsocketCommunicator:
        socket, connected, code = await open_socket(path, headers)
        assert connected, f"{path} refused with {code}"
        self.open.append(socket)
        return socket

    async def close(self):
        for socket in self.open:
            await socket.disconnect()


async def next_frame(socket, kind: str) -> dict:
    """The next frame of this type (frames of other types before it are skipped)."""
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == kind:
            return frame


async def silent(socket) -> bool:
    return await socket.receive_nothing(timeout=QUIET)


def visit_path(visit, after: int | None = None) -> str:
    return f"/ws/visits/{visit.pk}/" + (f"?after={after}" if after is not None else "")


@pytest.fixture
def visit(patient, diagnosis, slot, doc):
    return flows.accept(flows.book(patient, slot, diagnosis), doc)


def test_the_channel_layer_follows_redis_url():
    import os

    from channels.layers import get_channel_layer

    expected = "RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert type(get_channel_layer()).__name__ == expected


# ---- who may connect ----------------------------------------------------------------------------------------------


def test_anonymous_and_unverified_staff_sockets_are_closed_4401(visit, doc):
    refused = [socket_headers(None), socket_headers(doc.user, second_factor=False)]

    async def scenario():
        for headers in refused:
            for path in (visit_path(visit), f"/ws/queue/{visit.department_id}/"):
                assert await close_code(path, headers) == 4401, path

    run(scenario)


def test_a_socket_from_another_site_is_refused(visit, patient):
    headers = [h for h in socket_headers(patient.user) if h[0] != b"origin"] + [(b"origin", b"https://evil.example")]

    async def scenario():
        _socket, connected, _code = await open_socket(visit_path(visit), headers)
        assert not connected

    run(scenario)


def test_someone_outside_the_visit_is_closed_4404_and_audited(visit, other_patient, department):
    stranger_doctor = online_doctor(department)
    headers = [socket_headers(other_patient.user), socket_headers(stranger_doctor.user)]

    async def scenario():
        for h in headers:
            for path in (visit_path(visit), f"/ws/visits/{10**9}/"):
                assert await close_code(path, h) == 4404, path

    run(scenario)
    denied = AuditEvent.objects.filter(outcome=AuditOutcome.DENIED, object_type="visits.visit",
                                       object_id=str(visit.pk))
    assert {e.actor for e in denied} == {other_patient.user, stranger_doctor.user}
    assert {e.patient_id for e in denied} == {visit.patient_id}


# ---- hello and catching up -------------------------------------------------------------------------------------------


def test_hello_then_everything_after_the_last_seen_id(visit, patient, relative, doc, settings):
    settings.ICE_SERVERS = [{"urls": "stun:stun.example.org:3478"}]
    ids = [chat.post_message(actor=a, visit_id=visit.pk, body=f"m{i}").pk
           for i, a in enumerate([patient.user, doc.user, patient.user])]
    chat.mark_read(actor=doc.user, visit_id=visit.pk, last_read_id=ids[0])
    patient_headers, relative_headers = socket_headers(patient.user), socket_headers(relative)

    async def scenario():
        sockets = Sockets()
        try:
            mine = await sockets.join(visit_path(visit, after=ids[0]), patient_headers)
            hello = await mine.receive_json_from(timeout=TIMEOUT)
            assert hello == {
                "type": "hello", "visit_id": visit.pk, "role": "patient", "user_id": patient.user.pk,
                "status": "accepted", "mode": "text", "ice_servers": settings.ICE_SERVERS,
                "read_marks": {str(doc.user.pk): ids[0]},
            }
            backlog = [await mine.receive_json_from(timeout=TIMEOUT) for _ in ids[1:]]
            assert [(f["type"], f["message"]["id"], f["message"]["body"]) for f in backlog] == [
                ("message", ids[1], "m1"), ("message", ids[2], "m2"),
            ]
            assert await silent(mine)  # a booked visit is in no queue: nothing more

            theirs = await sockets.join(visit_path(visit), relative_headers)
            hello = await theirs.receive_json_from(timeout=TIMEOUT)
            assert hello["role"] == "proxy"
            everything = [await theirs.receive_json_from(timeout=TIMEOUT) for _ in range(4)]
            # The acceptance's system message, then the three.
            assert [f["message"]["id"] for f in everything][1:] == ids
            assert everything[0]["message"]["kind"] == "system"
        finally:
            await sockets.close()

    run(scenario)


# ---- live traffic -------------------------------------------------------------------------------------------------


def test_a_message_reaches_everyone_in_the_visit(visit, patient, doc):
    patient_headers, doctor_headers = socket_headers(patient.user), socket_headers(doc.user)
    last = Message.objects.filter(visit=visit).last().pk

    async def scenario():
        sockets = Sockets()
        try:
            tab_1 = await sockets.join(visit_path(visit, after=last), patient_headers)
            tab_2 = await sockets.join(visit_path(visit, after=last), patient_headers)
            doctor = await sockets.join(visit_path(visit, after=last), doctor_headers)
            for socket in (tab_1, tab_2, doctor):
                assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "hello"

            await tab_1.send_json_to({"type": "message", "body": "医生，今早血压 160/100", "client_id": "c-1"})
            frames = [await next_frame(s, "message") for s in (doctor, tab_2, tab_1)]
            assert len({f["message"]["id"] for f in frames}) == 1
            message = frames[0]["message"]
            assert message["body"] == "医生，今早血压 160/100" and message["sender_id"] == patient.user.pk
            assert message["client_id"] == "c-1" and message["kind"] == "text"

            # A resend after a dropped connection stores nothing new.
            await tab_1.send_json_to({"type": "message", "body": "医生，今早血压 160/100", "client_id": "c-1"})
            assert await silent(doctor)
            stored = await database_sync_to_async(
                lambda: list(Message.objects.filter(visit=visit, client_id="c-1").values_list("pk", flat=True))
            )()
            assert stored == [message["id"]]

            await doctor.send_json_to({"type": "message", "body": "加用一片", "client_id": "d-1"})
            for socket in (tab_1, tab_2):
                assert (await next_frame(socket, "message"))["message"]["sender_id"] == doc.user.pk
        finally:
            await sockets.close()

    run(scenario)


def test_typing_reaches_the_other_side_not_the_sender(visit, patient, doc):
    patient_headers, doctor_headers = socket_headers(patient.user), socket_headers(doc.user)
    last = Message.objects.filter(visit=visit).last().pk

    async def scenario():
        sockets = Sockets()
        try:
            mine = await sockets.join(visit_path(visit, after=last), patient_headers)
            doctor = await sockets.join(visit_path(visit, after=last), doctor_headers)
            for socket in (mine, doctor):
                await next_frame(socket, "hello")
            await mine.send_json_to({"type": "typing"})
            frame = await doctor.receive_json_from(timeout=TIMEOUT)
            assert frame == {"type": "typing", "user_id": patient.user.pk, "name": patient.user.real_name}
            assert await silent(mine)
        finally:
            await sockets.close()

    run(scenario)


def test_read_receipts_are_broadcast(visit, patient, doc):
    mine = chat.post_message(actor=patient.user, visit_id=visit.pk, body="在吗")
    patient_headers, doctor_headers = socket_headers(patient.user), socket_headers(doc.user)

    async def scenario():
        sockets = Sockets()
        try:
            patient_socket = await sockets.join(visit_path(visit, after=mine.pk), patient_headers)
            doctor = await sockets.join(visit_path(visit, after=mine.pk), doctor_headers)
            for socket in (patient_socket, doctor):
                await next_frame(socket, "hello")
            await doctor.send_json_to({"type": "read", "last_read_id": mine.pk})
            expected = {"type": "read", "user_id": doc.user.pk, "last_read_id": mine.pk}
            assert await patient_socket.receive_json_from(timeout=TIMEOUT) == expected
            assert await doctor.receive_json_from(timeout=TIMEOUT) == expected
            # An older receipt does not move the mark back.
            await doctor.send_json_to({"type": "read", "last_read_id": mine.pk - 1})
            assert (await patient_socket.receive_json_from(timeout=TIMEOUT))["last_read_id"] == mine.pk
        finally:
            await sockets.close()

    run(scenario)
    assert ReadMark.objects.get(visit=visit, user=doc.user).last_read_id == mine.pk


def test_call_signalling_is_relayed_to_the_other_side_only(visit, patient, doc):
    patient_headers, doctor_headers = socket_headers(patient.user), socket_headers(doc.user)
    last = Message.objects.filter(visit=visit).last().pk
    offer = {"kind": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
    candidate = {"kind": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}}

    async def scenario():
        sockets = Sockets()
        try:
            tab_1 = await sockets.join(visit_path(visit, after=last), patient_headers)
            tab_2 = await sockets.join(visit_path(visit, after=last), patient_headers)
            doctor = await sockets.join(visit_path(visit, after=last), doctor_headers)
            for socket in (tab_1, tab_2, doctor):
                await next_frame(socket, "hello")

            await doctor.send_json_to({"type": "signal", "data": offer})
            for socket in (tab_1, tab_2):
                assert await socket.receive_json_from(timeout=TIMEOUT) == {
                    "type": "signal", "from": "doctor", "data": offer,
                }
            assert await silent(doctor)

            await tab_1.send_json_to({"type": "signal", "data": candidate})
            assert await doctor.receive_json_from(timeout=TIMEOUT) == {
                "type": "signal", "from": "patient", "data": candidate,
            }
            assert await silent(tab_1)
            assert await silent(tab_2)  # the patient's other tab is the same side of the call

            await tab_1.send_json_to({"type": "signal", "data": "not an object"})
            assert (await tab_1.receive_json_from(timeout=TIMEOUT))["code"] == "invalid_signal"
            assert await silent(doctor)
        finally:
            await sockets.close()

    run(scenario)


def test_errors_and_status_changes_arrive_on_the_socket(visit, patient, doc):
    patient_headers = socket_headers(patient.user)
    last = Message.objects.filter(visit=visit).last().pk

    async def scenario():
        sockets = Sockets()
        try:
            mine = await sockets.join(visit_path(visit, after=last), patient_headers)
            await next_frame(mine, "hello")
            await mine.send_json_to({"type": "ping"})
            assert await mine.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
            await mine.send_json_to({"type": "dance"})
            assert (await mine.receive_json_from(timeout=TIMEOUT))["code"] == "unknown_type"
            await mine.send_json_to({"type": "message", "body": "  "})
            assert (await mine.receive_json_from(timeout=TIMEOUT))["code"] == "empty_message"

            await database_sync_to_async(flows.close)(visit, doc)
            status = await next_frame(mine, "status")
            while status["status"] != "closed":
                status = await next_frame(mine, "status")
            await mine.send_json_to({"type": "message", "body": "谢谢医生"})
            error = await next_frame(mine, "error")
            assert error["code"] == "visit_closed" and error["message"]
        finally:
            await sockets.close()

    run(scenario)


# ---- queues ----------------------------------------------------------------------------------------------------------


def test_a_waiting_patient_sees_their_place_move_up(department, doc):
    first, second = PatientFactory(), PatientFactory()
    ahead = flows.queue(first, department, ConditionFactory(patient=first))
    mine = flows.queue(second, department, ConditionFactory(patient=second))
    first_headers, second_headers = socket_headers(first.user), socket_headers(second.user)

    async def scenario():
        sockets = Sockets()
        try:
            waiting = await sockets.join(visit_path(mine), second_headers)
            front = await sockets.join(visit_path(ahead), first_headers)
            assert (await waiting.receive_json_from(timeout=TIMEOUT))["status"] == "requested"
            # One person ahead, one doctor consulting today, the default consultation length.
            assert await waiting.receive_json_from(timeout=TIMEOUT) == {
                "type": "queue", "position": 2, "wait_minutes": 10,
            }
            await next_frame(front, "hello")
            assert (await next_frame(front, "queue"))["position"] == 1

            taken = await database_sync_to_async(services.take_next_from_queue)(
                actor=doc.user, department_id=department.pk
            )
            assert taken.pk == ahead.pk
            assert await next_frame(waiting, "queue") == {"type": "queue", "position": 1, "wait_minutes": 0}
            assert (await next_frame(front, "status"))["status"] == "accepted"
        finally:
            await sockets.close()

    run(scenario)


def test_the_doctors_queue_socket_shows_the_waiting_list_live(department, doc, patient, diagnosis):
    first = PatientFactory()
    waiting = flows.queue(first, department, ConditionFactory(patient=first), complaint="头晕")
    doctor_headers = socket_headers(doc.user)

    async def scenario():
        sockets = Sockets()
        try:
            queue = await sockets.join(f"/ws/queue/{department.pk}/", doctor_headers)
            frame = await queue.receive_json_from(timeout=TIMEOUT)
            assert frame["type"] == "queue" and frame["department_id"] == department.pk
            (row,) = frame["waiting"]
            assert row["visit_id"] == waiting.pk and row["patient"] == first.user.real_name
            assert row["complaint"] == "头晕" and row["basis"] == "accepted" and row["age"] == first.age()

            joined = await database_sync_to_async(flows.queue)(patient, department, diagnosis)
            frame = await next_frame(queue, "queue")
            assert [r["visit_id"] for r in frame["waiting"]] == [waiting.pk, joined.pk]

            await database_sync_to_async(services.cancel_visit)(actor=first.user, visit_id=waiting.pk)
            frame = await next_frame(queue, "queue")
            assert [r["visit_id"] for r in frame["waiting"]] == [joined.pk]

            await queue.send_json_to({"type": "ping"})
            assert await queue.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        finally:
            await sockets.close()

    run(scenario)


def test_only_the_departments_online_doctors_watch_its_queue(department, patient):
    outsider = online_doctor()  # another department
    headers = [socket_headers(outsider.user), socket_headers(patient.user)]

    async def scenario():
        for h in headers:
            assert await close_code(f"/ws/queue/{department.pk}/", h) == 4404

    run(scenario)
