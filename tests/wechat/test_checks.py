from ihospital.wechat import checks


def test_production_pointing_at_the_simulator_is_a_warning(settings):
    settings.PRODUCTION = True
    settings.WECHAT_API_BASE = "http://127.0.0.1:8001"
    settings.WECHAT_OAUTH_BASE = "https://open.weixin.qq.com"
    found = checks.simulator_in_production(None)
    assert [c.id for c in found] == ["wechat.W001"] and "WECHAT_API_BASE" in found[0].msg
    assert "WECHAT_OAUTH_BASE" not in found[0].msg


def test_wechat_addresses_in_production_and_the_simulator_in_the_embedded_deployment_pass(settings):
    settings.PRODUCTION = True
    settings.WECHAT_API_BASE, settings.WECHAT_OAUTH_BASE = "https://api.weixin.qq.com", "https://open.weixin.qq.com"
    assert checks.simulator_in_production(None) == []
    settings.PRODUCTION = False
    settings.WECHAT_API_BASE = settings.WECHAT_OAUTH_BASE = "http://127.0.0.1:8001"
    assert checks.simulator_in_production(None) == []


def test_an_unconfigured_account_is_named(settings):
    settings.WECHAT_SECRET = ""
    assert [c.id for c in checks.account_configured(None)] == ["wechat.I001"]
    settings.WECHAT_SECRET = "s"
    assert checks.account_configured(None) == []
