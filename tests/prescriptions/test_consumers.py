"""The live worklists socket ``ws/prescriptions/live/`` against the real ASGI application (origin check, session
auth, routing) and the channel layer the settings choose (in memory, or Redis with ``REDIS_URL``).

Each test builds its data, then runs one async scenario through ``async_to_sync``. The consumers' database calls
come back to the test's thread (and its transaction); the services' broadcasts, sent on commit, are run by
``committed`` at the end of the act, so no test here needs ``transaction=True``.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client, TestCase

from ihospital.prescriptions import reviewing
from tests.factories import PatientFactory
from tests.helpers import verify_session
from tests.prescriptions.factories import (
    amlodipine,
    approve_refill,
    draft,
    item,
    make_due,
    monthly,
    refill,
    sign,
)
from tests.visits.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db

PATH = "/ws/prescriptions/live/"
TIMEOUT = 5  # seconds to wait for a frame that must come
QUIET = 0.3  # seconds of silence that show a frame does not come


def run(scenario) -> None:
    async_to_sync(scenario)()


def headers_of(user=None, *, second_factor: bool = True) -> list[tuple[bytes, bytes]]:
    """A browser signed in as ``user`` (staff with the second factor unless told otherwise)."""
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        if second_factor and user.needs_second_factor:
            verify_session(client, user.totpdevice_set.get())
        headers.append((b"cookie", f"sessionid={client.session.session_key}".encode()))
    return headers


def committed(act):
    """Run ``act`` in the test's thread, then what it left for after the commit (the live events)."""

    def _run():
        with TestCase.captureOnCommitCallbacks(execute=True):
            return act()

    # asgiref's sync_to_async, not channels' database_sync_to_async: that one closes the test's connection.
    return sync_to_async(_run)()


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


async def changed(socket) -> dict:
    frame = await socket.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "changed", frame
    return frame


async def silent(socket) -> bool:
    return await socket.receive_nothing(timeout=QUIET)


# ---- who may connect --------------------------------------------------------------------------------------------


def test_anonymous_and_unverified_staff_are_closed_4401(doc, pharmacist):
    from ihospital.asgi import application

    refused = [headers_of(None), headers_of(doc.user, second_factor=False), headers_of(pharmacist, second_factor=False)]

    async def scenario():
        for headers in refused:
            code = await WebsocketCommunicator(application, PATH, headers=headers).close_code(timeout=TIMEOUT)
            assert code == 4401

    run(scenario)


def test_hello_and_ping(patient):
    headers = headers_of(patient.user)

    async def scenario():
        sockets = Sockets()
        socket = await sockets.join(headers)
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await socket.send_json_to({"type": "something else"})
        assert await silent(socket)
        await sockets.close()

    run(scenario)


# ---- what reaches whom ------------------------------------------------------------------------------------------


def test_the_pharmacists_and_the_doctor_hear_a_signature(doc, visit, pharmacist, patient):
    rx = draft(doc, visit, item(amlodipine()))
    headers = [headers_of(user) for user in (pharmacist, doc.user, patient.user, PatientFactory().user)]

    async def scenario():
        sockets = Sockets()
        pharmacy, doctor, own, other = [await sockets.join(h) for h in headers]

        await committed(lambda: sign(doc, rx))

        expected = {"type": "changed", "what": "prescription", "id": rx.pk, "status": "signed"}
        assert await changed(pharmacy) == expected
        assert await changed(doctor) == expected
        assert await changed(own) == expected  # the patient's page learns its prescription moved on
        assert await silent(other)
        await sockets.close()

    run(scenario)


def test_the_patient_and_the_proxy_hear_their_refill_decided(doc, patient, relative, pharmacist, diagnosis):
    request_ = refill(make_due(monthly(doc, patient, pharmacist, condition=diagnosis)))
    headers = [headers_of(user) for user in (patient.user, relative, PatientFactory().user)]

    async def scenario():
        sockets = Sockets()
        own, proxy, other = [await sockets.join(h) for h in headers]

        await committed(lambda: approve_refill(doc, request_))

        frames = [await changed(own), await changed(own)]
        assert {"type": "changed", "what": "refill", "id": request_.pk, "status": "approved"} in frames
        assert any(f["what"] == "prescription" and f["status"] == "signed" for f in frames)
        proxy_frames = [await changed(proxy), await changed(proxy)]
        assert sorted(map(str, proxy_frames)) == sorted(map(str, frames))
        assert await silent(other)
        await sockets.close()

    run(scenario)


def test_the_department_hears_a_refill_request(doc, patient, pharmacist, diagnosis, department):
    from tests.visits.factories import online_doctor

    rx = make_due(monthly(doc, patient, pharmacist, condition=diagnosis))
    headers = [headers_of(p.user) for p in (doc, online_doctor(department), online_doctor())]

    async def scenario():
        sockets = Sockets()
        mine, theirs, outside = [await sockets.join(h) for h in headers]

        request_ = await committed(lambda: refill(rx))

        expected = {"type": "changed", "what": "refill", "id": request_.pk, "status": "requested"}
        assert await changed(mine) == expected
        assert await changed(theirs) == expected
        assert await silent(outside)
        await sockets.close()

    run(scenario)


def test_the_other_pharmacists_hear_a_decision(rx, pharmacist):
    from tests.prescriptions.factories import pharmacist_user

    headers = headers_of(pharmacist_user())

    async def scenario():
        sockets = Sockets()
        other_pharmacist = await sockets.join(headers)

        await committed(lambda: reviewing.review_prescription(actor=pharmacist, prescription_id=rx.pk, approve=True))

        assert await changed(other_pharmacist) == {"type": "changed", "what": "prescription", "id": rx.pk,
                                                   "status": "approved"}
        await sockets.close()

    run(scenario)
