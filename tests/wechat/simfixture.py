"""The ``wechat_simulator`` fixture: the local WeChat (``ihospital.wechat.simulator``) on a free loopback port.

One simulator runs for the whole session (``wechat_simulator_server``); each test that asks for
``wechat_simulator`` gets it reset (no tokens, messages, menu, outage) with the settings pointing the platform's
WeChat client at it: ``WECHAT_API_BASE``/``WECHAT_OAUTH_BASE`` = its url and the account's appid, secret, token
and EncodingAESKey = the simulator's. Use it from another test package with::

    from tests.wechat.simfixture import wechat_simulator, wechat_simulator_server  # noqa: F401

Useful in tests: ``sim.messages(openid)`` (template messages received), ``sim.identity("name")`` (openid and
unionid of a simulated WeChat user), ``sim.set_outage(True)``, ``sim.expire_tokens()``, ``sim.push(...)`` /
``sim.signed_request(...)`` (a signed callback, sent over HTTP or handed to Django's test client), ``sim.url``.
"""

from __future__ import annotations

import pytest

from ihospital.wechat.simulator import Simulator, start_simulator

__all__ = ["wechat_simulator", "wechat_simulator_server"]


@pytest.fixture(scope="session")
def wechat_simulator_server():
    from django.conf import settings

    simulator = start_simulator(
        port=0,
        platform_url="",
        appid=settings.WECHAT_APPID or "wx00simulator0001",
        secret=settings.WECHAT_SECRET or "simulator-app-secret",
        token=settings.WECHAT_TOKEN or "simulatortoken",
        aes_key=settings.WECHAT_ENCODING_AES_KEY or "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    )
    yield simulator
    simulator.stop()


@pytest.fixture
def wechat_simulator(wechat_simulator_server: Simulator, settings) -> Simulator:
    simulator = wechat_simulator_server
    simulator.reset()
    simulator.state.platform_url = ""
    state = simulator.state
    settings.WECHAT_API_BASE = simulator.url
    settings.WECHAT_OAUTH_BASE = simulator.url
    settings.WECHAT_APPID = state.appid
    settings.WECHAT_SECRET = state.secret
    settings.WECHAT_TOKEN = state.token
    settings.WECHAT_ENCODING_AES_KEY = state.aes_key
    yield simulator
    simulator.reset()
    simulator.state.platform_url = ""
