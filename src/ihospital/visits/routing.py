from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/visits/<int:visit_id>/", consumers.VisitConsumer.as_asgi()),
    path("ws/queue/<int:department_id>/", consumers.QueueConsumer.as_asgi()),
]
