"""System checks: a production deployment that takes "payments" with the sandbox gives medicines away."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .providers import base


@checks.register(checks.Tags.security, deploy=True)
def sandbox_in_production(app_configs, **kwargs):
    if getattr(settings, "PRODUCTION", False) and "sandbox" in base.enabled():
        return [checks.Warning(
            "The sandbox payment provider is enabled in production: payers confirm their own payments.",
            hint="Set PAYMENT_PROVIDER=wechatpay (PAYMENT_PROVIDERS without sandbox) and the WECHATPAY_* settings.",
            id="payments.W001",
        )]
    return []


@checks.register(deploy=True)
def wechatpay_configured(app_configs, **kwargs):
    if "wechatpay" not in base.enabled():
        return []
    from django.core.exceptions import ImproperlyConfigured

    from .providers.wechatpay import Config

    try:
        Config.from_settings()
    except (ImproperlyConfigured, OSError, ValueError) as exc:
        # Info, not a warning: a deployment may be checked before its merchant keys are installed. Until they are,
        # starting a payment answers provider_unavailable and the error is logged.
        return [checks.Info(f"WeChat Pay is enabled but not usable yet: {exc}", id="payments.I001")]
    return []


@checks.register()
def providers_known(app_configs, **kwargs):
    known = base.provider_paths()
    return [
        checks.Error(f"unknown payment provider {name!r}", hint=f"known: {', '.join(known)}", id="payments.E001")
        for name in base.enabled() if name not in known
    ]
