from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path
from django.views.i18n import set_language

from .api import api
from .health import healthz
from .prescriptions.views_slip import verify as verify_prescription_slip


def _admin_login(request, extra_context=None):
    # The admin signs in through our own login (password + TOTP), never through a password-only form.
    return redirect("/accounts/login/?" + urlencode({"next": request.GET.get("next", "/admin/")}))


admin.site.login = _admin_login
admin.site.site_header = "ihospital"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("ihospital.accounts.urls")),
    path("records/", include("ihospital.records.urls")),
    path("visits/", include("ihospital.visits.urls")),
    path("scheduling/", include("ihospital.scheduling.urls")),
    path("prescriptions/", include("ihospital.prescriptions.urls")),
    path("payments/", include("ihospital.payments.urls")),
    # Medicine orders: the patients' and the pharmacists' pages, and the couriers' tracking callbacks.
    path("pharmacy/", include("ihospital.pharmacy.urls")),
    # Home nursing: booking, assessment, dispatch, the nurse's visit, the security console.
    path("homecare/", include("ihospital.homecare.urls")),
    # Medical tests: orders, appointments for tests, results and images.
    path("diagnostics/", include("ihospital.diagnostics.urls")),
    # Remote expert consultation: requests, the coordinators' board, the experts' cases, live sessions.
    path("teleconsult/", include("ihospital.teleconsult.urls")),
    # The WeChat Official Account: its server callback, sign-in by WeChat (OAuth), binding, the menu.
    path("wechat/", include("ihospital.wechat.urls")),
    # Notifications: the list behind the bell, preferences, and the administrators' SMS/e-mail outbox.
    path("notifications/", include("ihospital.notifications.urls")),
    # The public check behind the QR code on a prescription slip (no sign-in).
    path("rx/verify/<str:number>/", verify_prescription_slip, name="rx_verify"),
    path("", include("ihospital.web.urls")),
]
