"""A WebSocket test client for ASGI applications, like ``channels.testing.WebsocketCommunicator``.

``channels.testing`` imports its live-server test case on import, which needs daphne; we serve with uvicorn and do
not ship daphne, so this is the same communicator on top of asgiref's (a few lines, no new dependency).
"""

from __future__ import annotations

import json
from unittest import mock
from urllib.parse import unquote, urlparse

from asgiref.testing import ApplicationCommunicator


def _no_op():
    pass


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, application, path: str, headers=None, subprotocols=None):
        parsed = urlparse(path)
        scope = {
            "type": "websocket",
            "path": unquote(parsed.path),
            "query_string": parsed.query.encode(),
            "headers": headers or [],
            "subprotocols": subprotocols or [],
        }
        super().__init__(application, scope)

    # As in channels.testing: the consumer's database calls run on the test's connection, which must stay open.
    async def send_input(self, message):
        with mock.patch("channels.db.close_old_connections", _no_op):
            return await super().send_input(message)

    async def receive_output(self, timeout=1):
        with mock.patch("channels.db.close_old_connections", _no_op):
            return await super().receive_output(timeout)

    async def connect(self, timeout=1) -> tuple[bool, object]:
        """(True, subprotocol) when accepted, (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept", response
        return True, response.get("subprotocol")

    async def close_code(self, timeout=1) -> int | None:
        """The code a refused socket is closed with, whether before the handshake (an HTTP 403 to a browser) or
        right after accepting it (so that the browser can read the code); None if the socket stays open."""
        connected, code = await self.connect(timeout)
        if not connected:
            return code
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return response.get("code", 1000)
        return None

    async def send_json_to(self, data) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json_from(self, timeout=1):
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send" and "text" in response, response
        return json.loads(response["text"])

    async def disconnect(self, code=1000, timeout=1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
