"""Fixtures of the WeChat tests: the local WeChat simulator (tests/wechat/simfixture.py)."""

from tests.wechat.simfixture import wechat_simulator, wechat_simulator_server  # noqa: F401
