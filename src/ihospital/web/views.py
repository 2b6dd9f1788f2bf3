"""The home page (one per role) and the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts import selectors as account_selectors
from ihospital.accounts.acting import acting_patient
from ihospital.accounts.models import CLINICAL_ROLES, ProxyStatus, Role
from ihospital.core.audit import verify_chain
from ihospital.homecare import selectors as homecare_selectors
from ihospital.homecare import staff_home
from ihospital.homecare.models import OPEN_REQUEST_STATUSES
from ihospital.pharmacy import selectors as pharmacy_selectors
from ihospital.pharmacy.models import OPEN_ORDER_STATUSES, OrderStatus
from ihospital.prescriptions import selectors as rx_selectors
from ihospital.records.selectors import patients_in_care
from ihospital.visits import selectors as visit_selectors
from ihospital.visits.models import ACTIVE_STATUSES

from . import selectors


@dataclass(frozen=True)
class Service:
    key: str
    title: Promise
    description: Promise
    app: str
    url_name: str

    @property
    def url(self) -> str | None:
        """Where the service starts, or None while it is not built into this deployment ("coming soon")."""
        if not apps.is_installed(f"ihospital.{self.app}"):
            return None
        try:
            return reverse(self.url_name)
        except NoReverseMatch:
            return None


SERVICES = (
    Service("visits", _("Online follow-up visits"),
            _("See your doctor again by chat or video for a chronic or common illness already diagnosed in person."),
            "visits", "visits:home"),
    Service("refills", _("Prescription refills with delivery"),
            _("Ask for your regular medicines again; a pharmacist checks every prescription and we deliver."),
            "prescriptions", "prescriptions:home"),
    Service("tests", _("Test appointments and results"),
            _("Book a time for blood tests or imaging and read the results here."),
            "diagnostics", "diagnostics:home"),
    Service("teleconsult", _("Remote expert consultation"),
            _("Your local doctor consults our specialists without you travelling."),
            "teleconsult", "teleconsult:home"),
    Service("homecare", _("Home nursing"),
            _("Nurses visit older, disabled or recently discharged patients at home after an assessment."),
            "homecare", "homecare:home"),
)


@require_GET
def home(request):
    user = request.user
    if not user.is_authenticated:
        return render(request, "web/home_anonymous.html", {"services": SERVICES})
    if user.role == Role.PATIENT:
        proxies = account_selectors.proxies_of_patient(user)
        acting = acting_patient(request)
        context = {
            "services": SERVICES,
            "acting": acting,
            "open_visits": visit_selectors.visits_of_patient(user, acting.pk).filter(status__in=ACTIVE_STATUSES).count()
            if acting else 0,
            "patients": account_selectors.patients_acted_for(user).order_by("pk"),
            "pending_requests": proxies.filter(status=ProxyStatus.PENDING).count(),
            "open_orders": pharmacy_selectors.orders_of_patient(user, acting.pk).filter(
                status__in=OPEN_ORDER_STATUSES).count() if acting else 0,
            "open_homecare": homecare_selectors.requests_of_patient(user, acting.pk).filter(
                status__in=OPEN_REQUEST_STATUSES).count() if acting else 0,
        }
        return render(request, "web/home_patient.html", context)
    if user.role in CLINICAL_ROLES:
        context = {"patients": patients_in_care(user).order_by("user__real_name")}
        if user.role == Role.DOCTOR:
            practitioner = visit_selectors.own_practitioner(user)
            context["open_visits"] = visit_selectors.doctor_worklist(user).count()
            context["day_started"] = practitioner and visit_selectors.consultation_day(practitioner)
            context["open_refills"] = rx_selectors.refill_worklist(user).count() if practitioner else 0
        if user.role == Role.PHARMACIST:
            context["to_review"] = rx_selectors.review_worklist(user).count()
            context["to_dispense"] = pharmacy_selectors.dispensing_worklist(user).filter(
                status=OrderStatus.PAID).count()
        if user.role == Role.NURSE:
            context["homecare"] = staff_home.nurse_summary(user, timezone.localdate())
        return render(request, "web/home_clinician.html", context)
    if user.role == Role.AUDITOR:
        return render(request, "web/home_auditor.html", {"events": selectors.latest_audit_events(user)})
    if user.role == Role.ADMIN:
        return render(request, "web/home_admin.html")
    if user.role == Role.COORDINATOR:
        # Consultation coordinators work from the consultation board.
        return redirect("teleconsult:board")
    if user.role == Role.SECURITY:
        return render(request, "web/home_security.html", {"open_alarms": staff_home.open_alarm_count()})
    return render(request, "web/home_dispatcher.html",
                  {"homecare": staff_home.dispatcher_summary(timezone.localdate())})


@login_required
@require_GET
def audit_log(request):
    return render(request, "web/audit.html", {"events": selectors.latest_audit_events(request.user)})


@login_required
@require_POST
def audit_verify(request):
    selectors.require_auditor(request.user)
    report = verify_chain()
    context = {"events": selectors.latest_audit_events(request.user), "report": report}
    return render(request, "web/audit.html", context)
