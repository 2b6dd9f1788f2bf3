"""System checks: production must not take "payments" through the sandbox; WeChat Pay's missing keys are named."""

from __future__ import annotations

from ihospital.payments import checks


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_the_sandbox_in_production_is_a_warning(settings):
    settings.PRODUCTION = True
    settings.PAYMENT_PROVIDER = "sandbox"
    settings.PAYMENT_PROVIDERS = ["sandbox"]
    assert ids(checks.sandbox_in_production(None)) == ["payments.W001"]
    settings.PRODUCTION = False
    assert checks.sandbox_in_production(None) == []
    settings.PRODUCTION = True
    settings.PAYMENT_PROVIDER = "wechatpay"
    settings.PAYMENT_PROVIDERS = ["wechatpay"]
    assert checks.sandbox_in_production(None) == []


def test_wechat_pay_without_its_keys_is_reported(settings):
    settings.PAYMENT_PROVIDER = "wechatpay"
    settings.PAYMENT_PROVIDERS = ["wechatpay"]
    settings.WECHATPAY_MCHID = ""
    (message,) = checks.wechatpay_configured(None)
    assert message.id == "payments.I001" and "WECHATPAY_MCHID" in message.msg


def test_an_unknown_provider_is_an_error(settings):
    settings.PAYMENT_PROVIDER = "alipay"
    assert ids(checks.providers_known(None)) == ["payments.E001"]
