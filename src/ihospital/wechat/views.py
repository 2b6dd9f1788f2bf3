"""The WeChat pages and endpoints: the server callback, the OAuth flow, binding, the menu page.

* ``callback``: ``GET/POST /wechat/callback/`` for WeChat's servers. No session, no CSRF token: the signature in
  the query is the only credential; refused requests answer 403 (400 unreadable) and change nothing.
* ``oauth_start`` / ``oauth_callback``: the web authorisation (see ``oauth.py``).
* ``bind``: the identity proved by WeChat, bound after signing in with mobile and password, or registering.
* ``binding``: see and end one's binding. ``menu_page``: administrators preview and publish the menu.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from ihospital.accounts import services as accounts
from ihospital.accounts.forms import LoginForm, RegisterForm
from ihospital.accounts.models import Role
from ihospital.core import audit
from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.pages import apply_domain_error, role_page

from . import bindings, oauth, server
from . import menu as menus
from .models import MenuPublication

logger = logging.getLogger(__name__)


# ---- the server endpoint --------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request):
    try:
        if request.method == "GET":
            body = server.verify_url(request.GET)
            return HttpResponse(body, content_type="text/plain; charset=utf-8")
        body = server.handle_message(request.GET, request.body)
    except server.CallbackRefused as exc:
        logger.warning("wechat: refused a callback (%s) from %s", exc.code, request.META.get("REMOTE_ADDR"))
        return HttpResponse(exc.code, status=exc.status, content_type="text/plain; charset=utf-8")
    content_type = "text/plain" if body == "success" else "application/xml"
    return HttpResponse(body, content_type=f"{content_type}; charset=utf-8")


# ---- OAuth ----------------------------------------------------------------------------------------------------


def _home() -> str:
    return reverse(settings.LOGIN_REDIRECT_URL)


@never_cache
@require_http_methods(["GET"])
def oauth_start(request):
    next_url = oauth.clean_next(request.GET.get("next"), default=_home())
    scope = oauth.SCOPES.get(request.GET.get("scope", "base"))
    if scope is None:
        raise DomainError("invalid_scope", _("This sign-in link is not valid."))
    if request.user.is_authenticated and bindings.active_binding(request.user) is not None:
        return redirect(next_url)  # signed in already, and bound: nothing to ask WeChat
    from . import client  # the API adapter

    state = oauth.new_state(request.session, next_url=next_url, scope=scope)
    redirect_uri = request.build_absolute_uri(reverse("wechat:oauth_callback"))
    try:
        url = client.get_client().oauth_authorize_url(redirect_uri=redirect_uri, scope=scope, state=state)
    except client.WeChatError as exc:
        logger.error("wechat: cannot start the web authorisation: %s", exc)
        raise DomainError("wechat_unavailable", _("Signing in through WeChat is not available just now."),
                          status=503) from None
    return redirect(url)


@never_cache
@require_http_methods(["GET"])
def oauth_callback(request):
    entry = oauth.take_state(request.session, request.GET.get("state", ""))
    next_url = oauth.clean_next(entry.get("next"), default=_home())
    code = request.GET.get("code", "")
    if not code or len(code) > 512:
        # The person pressed "deny" on WeChat's page (no code): nothing to do but say so.
        raise DomainError("oauth_denied", _("WeChat did not confirm who you are. Please try again."), status=400)
    from . import client

    try:
        answer = client.get_client().oauth_exchange(code=code)
        nickname = ""
        if entry.get("scope") == oauth.SCOPES["userinfo"] and answer.get("access_token"):
            try:
                info = client.get_client().user_info(access_token=answer["access_token"], openid=answer["openid"])
            except client.WeChatError:
                info = {}  # the nickname is a nicety
            nickname = str(info.get("nickname") or "")
            answer.setdefault("unionid", info.get("unionid") or "")
    except client.WeChatUnavailable as exc:
        logger.warning("wechat: OAuth code exchange failed: %s", exc)
        raise DomainError(
            "wechat_unavailable", _("WeChat could not confirm who you are just now. Please try again."), status=502
        ) from None
    except client.WeChatError as exc:  # an invalid, expired or used code
        logger.warning("wechat: OAuth code refused: %s", exc)
        raise DomainError(
            "oauth_code_invalid", _("WeChat did not confirm who you are. Please try again."), status=400
        ) from None
    openid = str(answer.get("openid") or "")
    unionid = str(answer.get("unionid") or "")
    user = bindings.user_for_openid(openid)
    if user is None:
        oauth.remember_identity(request.session, openid=openid, unionid=unionid, nickname=nickname,
                                next_url=next_url)
        return redirect("wechat:bind")
    if user.role != Role.PATIENT:
        audit.record(actor=None, action=AuditAction.LOGIN, obj=user, outcome=AuditOutcome.DENIED,
                     detail={"via": "wechat", "reason": "staff"})
        raise DomainError(
            "staff_wechat_login",
            _("Hospital staff sign in with their password and 6-digit code, not through WeChat."),
            status=403,
            link=reverse("accounts:login"),
        )
    if request.user.is_authenticated and request.user.pk != user.pk:
        auth_logout(request)
    if not request.user.is_authenticated:
        auth_login(request, user)
        audit.record(actor=user, action=AuditAction.LOGIN, obj=user, detail={"via": "wechat"})
    return _remember_language(redirect(next_url), user)


def _remember_language(response, user):
    if user.language:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax",
                            secure=settings.SESSION_COOKIE_SECURE, max_age=365 * 24 * 3600)
    return response


def _sign_in_and_go(request, user, pending: dict):
    if request.user.is_authenticated and request.user.pk != user.pk:
        auth_logout(request)
    if not request.user.is_authenticated:
        auth_login(request, user)
        audit.record(actor=user, action=AuditAction.LOGIN, obj=user, detail={"via": "wechat bind"})
    oauth.forget_identity(request.session)
    messages.success(request, _("Your WeChat account is bound. Next time WeChat signs you in."))
    return _remember_language(redirect(oauth.clean_next(pending.get("next"), default=_home())), user)


@never_cache
@require_http_methods(["GET", "POST"])
def bind(request):
    pending = oauth.pending_identity(request.session)
    if pending is None:
        raise DomainError(
            "no_wechat_identity",
            _("Open this page from the hospital's WeChat account first."),
            status=400,
        )
    action = request.POST.get("action", "")
    login_form = LoginForm(request.POST if action == "login" else None, prefix="login")
    register_form = RegisterForm(request.POST if action == "register" else None, prefix="register")
    status = 200
    identity = {"openid": pending["openid"], "unionid": pending.get("unionid", ""),
                "nickname": pending.get("nickname", "")}
    if request.method == "POST":
        try:
            if action == "bind" and request.user.is_authenticated:
                bindings.bind(user=request.user, **identity)
                return _sign_in_and_go(request, request.user, pending)
            if action == "login":
                if not login_form.is_valid():
                    raise DomainError("invalid_form", _("Please correct the marked fields."))
                user = accounts.check_credentials(identifier=login_form.cleaned_data["identifier"],
                                                  password=login_form.cleaned_data["password"])
                if user.role != Role.PATIENT:
                    raise DomainError(
                        "staff_wechat_login",
                        _("Hospital staff sign in with their password and 6-digit code, not through WeChat."),
                        status=403,
                    )
                bindings.bind(user=user, **identity)
                accounts.record_login(user)
                return _sign_in_and_go(request, user, pending)
            if action == "register":
                if not register_form.is_valid():
                    raise DomainError("invalid_form", _("Please correct the marked fields."))
                profile = accounts.register_patient(**register_form.cleaned_data,
                                                    language=translation.get_language())
                bindings.bind(user=profile.user, **identity)
                messages.info(request, _("Welcome! Your medical record number is %(mrn)s.") % {"mrn": profile.mrn})
                return _sign_in_and_go(request, profile.user, pending)
            raise DomainError("invalid_action", _("Please choose how to continue."))
        except DomainError as exc:
            status = exc.status
            form = register_form if action == "register" else login_form
            if action == "bind":
                messages.error(request, str(exc.message))
            else:
                apply_domain_error(form, exc)
    context = {
        "pending": pending,
        "login_form": login_form,
        "register_form": register_form,
        "action": action,
        "hospital_name": getattr(settings, "HOSPITAL_NAME", ""),
    }
    return render(request, "wechat/bind.html", context, status=status)


# ---- the binding page -----------------------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET"])
def binding(request):
    current = bindings.active_binding(request.user)
    return render(request, "wechat/binding.html", {
        "binding": current,
        "bind_link": reverse("wechat:oauth_start") + "?next=" + reverse("wechat:binding"),
    })


@login_required
@require_POST
def unbind(request):
    bindings.unbind(actor=request.user)
    messages.success(request, _("Your WeChat account is unbound. WeChat no longer signs you in or sends you messages."))
    return redirect("wechat:binding")


# ---- the menu (administrators) -------------------------------------------------------------------------------


admin_page = role_page(lambda user: user.role == Role.ADMIN or user.is_superuser, "not_an_admin",
                       _("Only hospital administrators can open this page."))


@never_cache
@admin_page
@require_http_methods(["GET", "POST"])
def menu_page(request):
    status = 200
    if request.method == "POST":
        publication = menus.publish(actor=request.user)
        if publication.ok:
            messages.success(request, _("The menu is published. Followers see it within a few minutes."))
            return redirect("wechat:menu")
        messages.error(request, _("WeChat refused the menu: %(error)s") % {"error": publication.error})
        status = 502
    error = ""
    try:
        preview = menus.build_menu()
    except DomainError as exc:
        preview, error = None, str(exc.message)
    return render(request, "wechat/menu.html", {
        "preview": preview,
        "menu_error": error,
        "publications": MenuPublication.objects.select_related("by")[:10],
    }, status=status)
