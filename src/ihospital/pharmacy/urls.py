from django.urls import path

from . import views, views_courier, views_pharmacy, views_trace

app_name = "pharmacy"

# The couriers' signed tracking callbacks (/pharmacy/courier/notify/<provider>/): no session, no CSRF.
courier_urlpatterns = [
    path("courier/notify/<slug:provider>/", views_courier.notify, name="courier_notify"),
]

urlpatterns = [
    # Patients and their relatives (views.py): ordering from an approved prescription, my orders, one order.
    path("order/<int:rx_id>/", views.new_order, name="order_new"),
    path("order/<int:rx_id>/address/", views.add_address, name="add_address"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/pay/", views.pay, name="pay"),
    path("orders/<int:order_id>/cancel/", views.cancel, name="cancel"),
    path("orders/<int:order_id>/received/", views.confirm_receipt, name="confirm_receipt"),
    # Pharmacists (views_pharmacy.py, views_trace.py): the worklist, dispensing one order, the dashboard, the trace.
    path("worklist/", views_pharmacy.worklist, name="worklist"),
    path("dashboard/", views_pharmacy.dashboard, name="dashboard"),
    path("orders/<int:order_id>/dispense/", views_pharmacy.dispense, name="dispense"),
    path("orders/<int:order_id>/dispense/start/", views_pharmacy.start, name="start"),
    path("orders/<int:order_id>/dispense/pick/", views_pharmacy.pick, name="pick"),
    path("orders/<int:order_id>/dispense/hand-over/", views_pharmacy.hand_over, name="hand_over"),
    path("orders/<int:order_id>/dispense/collected/", views_pharmacy.collect, name="collect"),
    path("orders/<int:order_id>/dispense/cancel/", views_pharmacy.cancel, name="pharmacy_cancel"),
    path("orders/<int:order_id>/trace/", views_trace.trace, name="trace"),
    *courier_urlpatterns,
]
