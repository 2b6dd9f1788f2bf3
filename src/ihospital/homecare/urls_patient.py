"""The patient's (and their relatives') home nursing pages: the catalogue, booking, my requests, one request."""

from django.urls import path

from . import views_patient, views_patient_booking

urlpatterns = [
    path("", views_patient.home, name="home"),
    path("book/<slug:code>/", views_patient_booking.book, name="book"),
    path("book/<slug:code>/locate/", views_patient_booking.locate, name="book_locate"),
    path("requests/", views_patient.requests, name="requests"),
    path("requests/<int:request_id>/", views_patient.request_detail, name="request"),
    # The live part of a request's page, fetched again when the socket says the request changed.
    path("requests/<int:request_id>/status/", views_patient.request_status, name="request_status"),
    path("requests/<int:request_id>/cancel/", views_patient.cancel, name="request_cancel"),
    path("requests/<int:request_id>/confirm/", views_patient.confirm, name="request_confirm"),
    path("requests/<int:request_id>/pay/", views_patient.pay, name="request_pay"),
    path("requests/<int:request_id>/rate/", views_patient.rate, name="request_rate"),
]
