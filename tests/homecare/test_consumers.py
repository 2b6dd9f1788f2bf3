"""The live socket ``ws/homecare/live/`` against the real ASGI application (origin check, session auth, routing)
and the channel layer the settings choose (in memory, or Redis with ``REDIS_URL``).

Each test builds its data, then runs one async scenario. The services' broadcasts are sent on commit; ``committed``
runs the act in the test's thread and then its on-commit callbacks, as the server would after the commit."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from ihospital.homecare import realtime, safety, visiting
from tests.factories import TOTPDeviceFactory
from tests.homecare import factories as f
from tests.prescriptions.test_consumers import committed, headers_of
from tests.visits.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db

PATH = "/ws/homecare/live/"
TIMEOUT = 5  # seconds to wait for a frame that must come
QUIET = 0.3  # seconds of silence that show a frame does not come


def run(scenario) -> None:
    async_to_sync(scenario)()


def browser_of(user, *, second_factor: bool = True):
    if user.needs_second_factor and not user.totpdevice_set.exists():
        TOTPDeviceFactory(user=user)
    return headers_of(user, second_factor=second_factor)


class Sockets:
    def __init__(self):
        self.open: list[WebsocketCommunicator] = []

    async def join(self, headers) -> WebsocketCommunicator:
        from ihospital.asgi import application

        socket = WebsocketCommunicator(application, PATH, headers=headers)
        connected, code = await socket.connect(timeout=TIMEOUT)
        assert connected, code
        hello = await socket.receive_json_from(timeout=TIMEOUT)
        assert hello["type"] == "hello", hello
        self.open.append(socket)
        return socket

    async def close(self):
        for socket in self.open:
            await socket.disconnect()


async def frame(socket, kind: str) -> dict:
    data = await socket.receive_json_from(timeout=TIMEOUT)
    assert data["type"] == kind, data
    return data


async def silent(socket) -> bool:
    return await socket.receive_nothing(timeout=QUIET)


@pytest.fixture
def visit(elder, nurse):
    return f.today_visit(elder, nurse)


def test_anonymous_and_staff_without_the_second_factor_are_closed_4401(nurse, guard):
    from ihospital.asgi import application

    refused = [headers_of(None), browser_of(nurse, second_factor=False), browser_of(guard, second_factor=False)]

    async def scenario():
        for headers in refused:
            code = await WebsocketCommunicator(application, PATH, headers=headers).close_code(timeout=TIMEOUT)
            assert code == 4401

    run(scenario)


def test_hello_and_ping(elder):
    headers = browser_of(elder.user)

    async def scenario():
        sockets = Sockets()
        socket = await sockets.join(headers)
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await socket.send_json_to({"type": "anything else"})
        assert await silent(socket)
        await sockets.close()

    run(scenario)


def test_the_patient_the_proxy_the_nurse_and_the_dispatchers_hear_a_change(visit, elder, relative, nurse,
                                                                           other_nurse, dispatcher):
    stranger = f.eligible_patient()
    headers = [browser_of(u) for u in (elder.user, relative, nurse, dispatcher, stranger.user, other_nurse)]

    async def scenario():
        sockets = Sockets()
        own, proxy, assigned, board, other_patient, other = [await sockets.join(h) for h in headers]

        await committed(lambda: visiting.set_out(actor=nurse, visit_id=visit.pk))

        expected = {"type": "changed", "what": "request", "id": visit.request_id, "status": "en_route"}
        for socket in (own, proxy, assigned, board):
            assert await frame(socket, "changed") == expected
        assert await silent(other_patient)
        assert await silent(other)  # another nurse: not their visit
        await sockets.close()

    run(scenario)


def test_an_alarm_reaches_security_dispatchers_and_admins_and_never_the_nurses_or_patients(
        visit, elder, relative, nurse, other_nurse, guard, dispatcher, admin_user):
    f.in_service(visit, nurse)
    token = safety.alarm_token(nurse)
    headers = [browser_of(u) for u in (guard, dispatcher, admin_user, nurse, other_nurse, elder.user, relative)]

    async def scenario():
        sockets = Sockets()
        security, board, admin, *others = [await sockets.join(h) for h in headers]

        alarm = await committed(lambda: safety.raise_alarm(token=token, latitude="37.8561", longitude="112.5701"))

        for socket in (security, board, admin):
            data = await frame(socket, "alarm")
            assert data["id"] == alarm.pk and data["status"] == "raised" and data["kind"] == "panic"
            assert data["nurse"] == nurse.real_name and (data["latitude"], data["longitude"]) == (37.8561, 112.5701)
            assert data["visit"] == visit.request.number and data["patient"] == elder.real_name
            assert data["address"].startswith("太原市") and data["contact_phone"] == visit.request.contact_phone
        for socket in others:
            assert await silent(socket)

        # Acknowledged: every console hears it (it stops flashing there); still nothing for the others.
        await committed(lambda: safety.acknowledge(actor=guard, alarm_id=alarm.pk))
        for socket in (security, board, admin):
            data = await frame(socket, "alarm")
            assert data["id"] == alarm.pk and data["status"] == "acknowledged"
        for socket in others:
            assert await silent(socket)

        # Even an alarm event that reached a nurse's or a patient's group by mistake is not forwarded to them.
        layer = get_channel_layer()
        for group in (realtime.nurse_group(nurse.pk), realtime.patient_group(elder.pk)):
            await layer.group_send(group, {"type": "hc.alarm", **safety.payload(alarm)})
        for socket in others:
            assert await silent(socket)
        await sockets.close()

    run(scenario)
