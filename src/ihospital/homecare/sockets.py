"""Home nursing's WebSocket routes (``routing/`` is the dispatch optimiser, so the routes live here)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/homecare/live/", consumers.LiveConsumer.as_asgi()),
]
