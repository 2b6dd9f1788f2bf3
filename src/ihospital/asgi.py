"""ASGI entry point: HTTP through Django, WebSockets through Channels (routes added by the workflows)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ihospital.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (Django must be set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ihospital.homecare.sockets import websocket_urlpatterns as homecare_sockets  # noqa: E402
from ihospital.notifications.sockets import websocket_urlpatterns as notification_sockets  # noqa: E402
from ihospital.prescriptions.routing import websocket_urlpatterns as prescription_sockets  # noqa: E402
from ihospital.teleconsult.sockets import websocket_urlpatterns as teleconsult_sockets  # noqa: E402
from ihospital.visits.routing import websocket_urlpatterns as visit_sockets  # noqa: E402

websocket_urlpatterns = (
    visit_sockets + prescription_sockets + homecare_sockets + teleconsult_sockets + notification_sockets
)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
