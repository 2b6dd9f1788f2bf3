from django.urls import path

from . import views

app_name = "payments"
urlpatterns = [
    # Providers deliver their signed callbacks here (no session, no CSRF token; the signature is the credential).
    path("notify/<slug:provider>/", views.notify, name="notify"),
    # The sandbox provider's checkout page, for the charge's payer.
    path("sandbox/checkout/<str:out_trade_no>/", views.sandbox_checkout, name="sandbox_checkout"),
]
