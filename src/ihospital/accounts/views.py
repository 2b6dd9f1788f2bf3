"""Pages for signing in (with the staff second factor), registering, relatives (proxies), consents and
preferences. Each view parses a form, calls one service, and shows a refusal with the service's message."""

from __future__ import annotations

import time
from base64 import b32encode
from functools import wraps

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.core.errors import DomainError, Forbidden
from ihospital.core.pages import apply_domain_error, safe_next

from . import acting, selectors, services
from .forms import (
    ApproveProxyForm,
    CodeForm,
    InviteProxyForm,
    LoginForm,
    PreferencesForm,
    RegisterForm,
    RequestProxyForm,
)
from .middleware import ELDER_COOKIE
from .models import ProxyStatus, Role, User

PENDING_LOGIN = "pending_login"
PENDING_LOGIN_SECONDS = 5 * 60
PREFERENCE_COOKIE_AGE = 365 * 24 * 3600


def _home() -> str:
    return reverse(settings.LOGIN_REDIRECT_URL)


# ---- signing in ------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login_view(request):
    next_url = safe_next(request, _home())
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.check_credentials(
                identifier=form.cleaned_data["identifier"], password=form.cleaned_data["password"]
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
            status = exc.status
        else:
            if user.needs_second_factor:
                # Staff are not signed in on a password alone: remember who passed it, for five minutes.
                request.session[PENDING_LOGIN] = {"user": user.pk, "at": int(time.time()), "next": next_url}
                step = "accounts:login_otp" if services.confirmed_totp_device(user) else "accounts:login_enrol"
                return redirect(step)
            auth_login(request, user)
            services.record_login(user)
            return _remember_language(redirect(next_url), user.language)
    context = {
        "form": form,
        "next": next_url if next_url != _home() else "",
        "expired": request.GET.get("expired") == "1",
    }
    return render(request, "accounts/login.html", context, status=status)


def _pending_user(request) -> User | None:
    pending = request.session.get(PENDING_LOGIN)
    if not pending:
        return None
    if time.time() - pending.get("at", 0) > PENDING_LOGIN_SECONDS:
        request.session.pop(PENDING_LOGIN, None)
        return None
    return User.objects.filter(pk=pending.get("user"), is_active=True).first()


def _pending_or_restart(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = _pending_user(request)
        if user is None:
            messages.error(request, _("Your sign-in took too long. Please enter your password again."))
            return redirect("accounts:login")
        return view(request, user, *args, **kwargs)

    return wrapper


def _finish_staff_login(request, user: User, device: TOTPDevice):
    next_url = request.session.pop(PENDING_LOGIN, {}).get("next") or _home()
    auth_login(request, user)
    otp_login(request, device)  # marks the session verified; without it the staff session is ended
    # When the code was typed: a doctor who signed in moments ago need not type a second code to start the day.
    request.session[services.SECOND_FACTOR_AT] = timezone.now().isoformat()
    services.record_login(user)
    return _remember_language(redirect(next_url), user.language)


@require_http_methods(["GET", "POST"])
@_pending_or_restart
def login_otp(request, user: User):
    if services.confirmed_totp_device(user) is None:
        return redirect("accounts:login_enrol")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = services.verify_second_factor(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            apply_domain_error(form, exc, {"otp": "code"})
            status = exc.status
        else:
            return _finish_staff_login(request, user, device)
    return render(request, "accounts/login_otp.html", {"form": form, "pending_user": user}, status=status)


def _qr_svg(uri: str) -> str:
    qr = segno.make(uri, error="m")
    return qr.svg_inline(scale=5, border=2, dark="#000", light="#fff", title=_("QR code for your authenticator"))


@require_http_methods(["GET", "POST"])
@_pending_or_restart
def login_enrol(request, user: User):
    if services.confirmed_totp_device(user) is not None:
        return redirect("accounts:login_otp")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "GET":
        device = services.start_totp_enrolment(user=user)
    else:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            return redirect("accounts:login_enrol")
        if form.is_valid():
            try:
                device = services.confirm_totp_enrolment(user=user, code=form.cleaned_data["code"])
            except DomainError as exc:
                apply_domain_error(form, exc)
                status = exc.status
            else:
                return _finish_staff_login(request, user, device)
    secret = b32encode(device.bin_key).decode().rstrip("=")
    context = {
        "form": form,
        "pending_user": user,
        "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - segno's own SVG, no user input
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
    }
    return render(request, "accounts/login_enrol.html", context, status=status)


@require_POST
def logout_view(request):
    auth_logout(request)
    return redirect(_home())


@require_http_methods(["GET", "POST"])
def register(request):
    form = RegisterForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.register_patient(**form.cleaned_data, language=translation.get_language())
        except DomainError as exc:
            apply_domain_error(form, exc)
            status = exc.status
        else:
            user = profile.user
            if request.elder_mode:  # someone who turned on elder mode before registering keeps it
                services.set_preferences(user=user, elder_mode=True)
            auth_login(request, user)
            services.record_login(user)
            messages.success(request, _("Welcome! Your medical record number is %(mrn)s.") % {"mrn": profile.mrn})
            return redirect(_home())
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/register.html", {"form": form}, status=status)


# ---- relatives (proxies) and consents ------------------------------------------------------------------------


def patient_required(view):
    """Only people who sign in as patients (or relatives) have proxies and consents."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != Role.PATIENT:
            raise Forbidden("not_a_patient", _("Only a registered patient can do this."))
        return view(request, *args, **kwargs)

    return wrapper


def _proxies_page(request, *, invite_form=None, request_form=None, error=None, status=200):
    context = {
        "my_proxies": selectors.proxies_of_patient(request.user),
        "my_links": selectors.proxy_links_of_relative(request.user),
        "invite_form": invite_form or InviteProxyForm(),
        "request_form": request_form or RequestProxyForm(),
        "approve_form": ApproveProxyForm(),
        "page_error": error,
        "Status": ProxyStatus,
    }
    return render(request, "accounts/proxies.html", context, status=status)


@patient_required
def proxies(request):
    return _proxies_page(request)


@require_POST
@patient_required
def proxy_invite(request):
    form = InviteProxyForm(request.POST)
    if form.is_valid():
        try:
            services.invite_proxy(patient_user=request.user, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc, {"phone": "proxy_phone"})
            return _proxies_page(request, invite_form=form, status=exc.status)
        messages.success(request, _("Your relative can now act for you."))
        return redirect("accounts:proxies")
    return _proxies_page(request, invite_form=form, status=400)


@require_POST
@patient_required
def proxy_request(request):
    form = RequestProxyForm(request.POST)
    if form.is_valid():
        try:
            services.request_proxy(proxy_user=request.user, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc, {"phone": "patient_phone"})
            return _proxies_page(request, request_form=form, status=exc.status)
        messages.success(request, _("Request sent. You can act for the patient once they approve it."))
        return redirect("accounts:proxies")
    return _proxies_page(request, request_form=form, status=400)


def _proxy_action(request, act, success: str):
    try:
        act()
    except DomainError as exc:
        return _proxies_page(request, error=exc.message, status=exc.status)
    messages.success(request, success)
    return redirect("accounts:proxies")


@require_POST
@patient_required
def proxy_approve(request, proxy_id: int):
    form = ApproveProxyForm(request.POST)
    consent = form.is_valid() and form.cleaned_data["consent"]
    return _proxy_action(
        request,
        lambda: services.approve_proxy(patient_user=request.user, proxy_id=proxy_id, consent=consent),
        _("Approved: your relative can now act for you."),
    )


@require_POST
@patient_required
def proxy_decline(request, proxy_id: int):
    return _proxy_action(
        request, lambda: services.decline_proxy(patient_user=request.user, proxy_id=proxy_id), _("Request declined.")
    )


@require_POST
@patient_required
def proxy_revoke(request, proxy_id: int):
    return _proxy_action(
        request, lambda: services.revoke_proxy(actor=request.user, proxy_id=proxy_id), _("The link has ended.")
    )


def _consents_page(request, *, error=None, status=200):
    rows = list(selectors.consents_of(request.user))
    relatives = {f"proxy:{p.pk}": p.proxy_user.real_name for p in selectors.proxies_of_patient(request.user)}
    for row in rows:
        row.relative_name = relatives.get(row.subject, "")
    return render(request, "accounts/consents.html", {"consents": rows, "page_error": error}, status=status)


@patient_required
def consents(request):
    return _consents_page(request)


@require_POST
@patient_required
def consent_withdraw(request, consent_id: int):
    try:
        services.withdraw_consent(actor=request.user, consent_id=consent_id)
    except DomainError as exc:
        return _consents_page(request, error=exc.message, status=exc.status)
    messages.success(request, _("Consent withdrawn."))
    return redirect("accounts:consents")


@require_POST
@login_required
def act_for(request):
    """Choose whose record to handle: one's own, or that of a patient one is an active proxy for."""
    try:
        patient_id = int(request.POST.get("patient_id", ""))
    except ValueError:
        patient_id = 0
    patient = acting.act_for(request, patient_id)  # NotFound (a 404 page) for anyone else
    messages.info(request, _("You are now handling the record of %(name)s.") % {"name": patient.real_name})
    return redirect(safe_next(request, reverse("records:me")))


# ---- preferences ----------------------------------------------------------------------------------------------


def _cookie_options() -> dict:
    return {"max_age": PREFERENCE_COOKIE_AGE, "samesite": "Lax", "secure": settings.SESSION_COOKIE_SECURE}


def _remember_elder(response, on: bool):
    response.set_cookie(ELDER_COOKIE, "1" if on else "0", httponly=True, **_cookie_options())
    return response


def _remember_language(response, language: str):
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, **_cookie_options())
    return response


@require_http_methods(["GET", "POST"])
def preferences(request):
    initial = {"language": translation.get_language(), "elder_mode": request.elder_mode}
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        language, elder = form.cleaned_data["language"], form.cleaned_data["elder_mode"]
        if request.user.is_authenticated:
            services.set_preferences(user=request.user, language=language, elder_mode=elder)
        translation.activate(language)
        messages.success(request, _("Preferences saved."))
        response = redirect("accounts:preferences")
        _remember_language(response, language)
        return _remember_elder(response, elder)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/preferences.html", {"form": form}, status=status)


@require_POST
def set_language(request):
    """The header's language switch for signed-in people: remember it on the account, then do what Django's
    ``set_language`` does (cookie and redirect). Without the account, the middleware would switch it back."""
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        services.set_preferences(user=request.user, language=language)
    return django_set_language(request)


@require_POST
def set_elder_mode(request):
    on = request.POST.get("elder_mode") == "1"
    if request.user.is_authenticated:
        services.set_preferences(user=request.user, elder_mode=on)
    return _remember_elder(redirect(safe_next(request, _home())), on)
