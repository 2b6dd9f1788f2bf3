"""The access token under concurrency on a real database server: processes (threads, each with its own
PostgreSQL connection) asking at once fetch one token between them, also the very first time, and a refused token
is replaced once however many calls were refused together. Skipped on SQLite (tests/conftest.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from ihospital.wechat.client import get_client
from ihospital.wechat.models import AccessToken
from tests.helpers import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_first_token_is_fetched_once_by_processes_asking_together(wechat_simulator):
    results = run_in_threads(6, lambda i: get_client().access_token())
    assert Counter(kind for kind, _ in results) == {"ok": 6}, results
    assert len({token for _, token in results}) == 1
    assert wechat_simulator.state.token_requests == 1
    assert AccessToken.objects.get().token == results[0][1]


def test_a_refused_token_is_replaced_once_for_all_the_calls_refused_with_it(wechat_simulator):
    get_client().access_token()
    wechat_simulator.expire_tokens(revoke=True)
    results = run_in_threads(
        5, lambda i: get_client().send_template(openid=f"o{i}", template_id="T", data={"first": "x"}, url=""))
    assert Counter(kind for kind, _ in results) == {"ok": 5}, results
    assert wechat_simulator.state.token_requests == 2
    assert len(wechat_simulator.messages()) == 5
