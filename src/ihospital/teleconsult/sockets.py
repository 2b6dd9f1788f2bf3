"""Consultation's WebSocket routes (``consumers``): the pages' live socket and a session's signalling."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/teleconsult/live/", consumers.LiveConsumer.as_asgi()),
    path("ws/teleconsult/session/<int:session_id>/", consumers.SessionConsumer.as_asgi()),
]
