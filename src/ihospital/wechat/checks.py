"""System checks: a production deployment must not talk to the local WeChat simulator, whose phone page lets
whoever opens it act as any WeChat user (and so sign in as any bound patient)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@checks.register(checks.Tags.security, deploy=True)
def simulator_in_production(app_configs, **kwargs):
    if not getattr(settings, "PRODUCTION", False):
        return []
    found = [name for name in ("WECHAT_API_BASE", "WECHAT_OAUTH_BASE")
             if (urlsplit(getattr(settings, name, "")).hostname or "") in LOOPBACK]
    if not found:
        return []
    return [checks.Warning(
        f"{', '.join(found)} point at this machine (the WeChat simulator) in production: anyone who reaches it "
        "can sign in as any patient bound to WeChat.",
        hint="Unset them (WeChat's own addresses are the production default) or point them at WeChat.",
        id="wechat.W001",
    )]


@checks.register(deploy=True)
def account_configured(app_configs, **kwargs):
    missing = [name for name in ("WECHAT_APPID", "WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY")
               if not getattr(settings, name, "")]
    if not missing:
        return []
    # Info, not a warning: a hospital may run without its Official Account; the callback answers 403 and the
    # WeChat channel skips its deliveries until these are set.
    return [checks.Info(f"The WeChat Official Account is not configured ({', '.join(missing)}).", id="wechat.I001")]
