"""The patient's medical-test pages, and the role-aware page of one order (see ``views_patient``)."""

from django.urls import path

from . import views_patient

urlpatterns = [
    path("", views_patient.home, name="home"),
    path("orders/<int:order_id>/", views_patient.order, name="order"),
    path("orders/<int:order_id>/book/", views_patient.book, name="book"),
    path("orders/<int:order_id>/report.pdf", views_patient.report, name="report_pdf"),
    path("images/<int:instance_id>/preview.png", views_patient.preview, name="preview"),
    path("trends/", views_patient.trends_page, name="trends"),
]
