"""The staff's medical-test pages: doctors (ordering, sign-off), lab technicians, and the imaging report."""

from django.urls import path

from . import views_staff

urlpatterns = [
    path("order/", views_staff.order_new, name="order_new"),
    path("visits/<int:visit_id>/orders/", views_staff.visit_orders, name="visit_orders"),
    path("doctor/results/", views_staff.signoff, name="signoff"),
    path("doctor/results/<int:order_id>/sign-off/", views_staff.signoff_order, name="signoff_order"),
    path("lab/", views_staff.lab, name="lab"),
    path("lab/orders/<int:order_id>/check-in/", views_staff.lab_check_in, name="lab_check_in"),
    path("lab/orders/<int:order_id>/collected/", views_staff.lab_collect, name="lab_collect"),
    path("lab/orders/<int:order_id>/results/", views_staff.lab_results, name="lab_results"),
    path("lab/hl7/", views_staff.lab_hl7, name="lab_hl7"),
    path("lab/csv/", views_staff.lab_csv, name="lab_csv"),
    path("lab/orders/<int:order_id>/dicom/", views_staff.lab_dicom, name="lab_dicom"),
    path("orders/<int:order_id>/report/", views_staff.report, name="report"),
]
