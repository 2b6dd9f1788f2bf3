"""Model-based test of the proxy lifecycle with a hypothesis state machine.

Random sequences of invite / request / approve / decline / revoke (by either side, or by a stranger) /
withdraw the proxy consent run against the real services. A small model predicts each outcome; the invariant
is that the relative can read the patient's chart exactly when there is an active link with a live consent.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from ihospital.accounts import services
from ihospital.accounts.models import Proxy, ProxyStatus
from ihospital.core.errors import DomainError, NotFound
from ihospital.records import selectors as records
from tests.factories import PatientFactory

LIVE = {ProxyStatus.PENDING, ProxyStatus.ACTIVE}


@dataclass
class Link:
    status: str
    consent_live: bool = False


class ProxyLifecycle(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint that teardown() rolls back, inside the test's own transaction.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.patient = PatientFactory()
        self.relative = PatientFactory()
        self.stranger = PatientFactory()
        self.links: dict[int, Link] = {}  # the model: proxy id -> expected state
        self.ids: list[int] = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ---- model helpers -------------------------------------------------------------------------------------

    def live_link(self) -> int | None:
        return next((pk for pk, link in self.links.items() if link.status in LIVE), None)

    def expect_error(self, code: str, fn, **kwargs):
        with pytest.raises(DomainError) as exc:
            fn(**kwargs)
        assert exc.value.code == code, (exc.value.code, code)

    # ---- rules ---------------------------------------------------------------------------------------------

    @rule()
    def invite(self):
        kwargs = dict(
            patient_user=self.patient.user,
            proxy_phone=self.relative.user.phone,
            proxy_real_name=self.relative.user.real_name,
            relationship="child",
            consent=True,
        )
        if self.live_link() is not None:
            self.expect_error("proxy_exists", services.invite_proxy, **kwargs)
            return
        proxy = services.invite_proxy(**kwargs)
        assert proxy.pk not in self.links
        self.links[proxy.pk] = Link(ProxyStatus.ACTIVE, consent_live=True)
        self.ids.append(proxy.pk)

    @rule()
    def request(self):
        kwargs = dict(
            proxy_user=self.relative.user,
            patient_phone=self.patient.user.phone,
            patient_real_name=self.patient.user.real_name,
            relationship="parent",
        )
        if self.live_link() is not None:
            self.expect_error("proxy_exists", services.request_proxy, **kwargs)
            return
        proxy = services.request_proxy(**kwargs)
        self.links[proxy.pk] = Link(ProxyStatus.PENDING)
        self.ids.append(proxy.pk)

    @rule(data=st.data(), consent=st.booleans())
    def approve(self, data, consent):
        if not self.ids:
            return
        pk = data.draw(st.sampled_from(self.ids))
        link = self.links[pk]
        kwargs = dict(patient_user=self.patient.user, proxy_id=pk, consent=consent)
        if not consent:
            self.expect_error("consent_required", services.approve_proxy, **kwargs)
        elif link.status != ProxyStatus.PENDING:
            self.expect_error("invalid_transition", services.approve_proxy, **kwargs)
        else:
            services.approve_proxy(**kwargs)
            link.status, link.consent_live = ProxyStatus.ACTIVE, True

    @rule(data=st.data())
    def decline(self, data):
        if not self.ids:
            return
        pk = data.draw(st.sampled_from(self.ids))
        link = self.links[pk]
        if link.status != ProxyStatus.PENDING:
            self.expect_error("invalid_transition", services.decline_proxy, patient_user=self.patient.user, proxy_id=pk)
        else:
            services.decline_proxy(patient_user=self.patient.user, proxy_id=pk)
            link.status = ProxyStatus.DECLINED

    @rule(data=st.data(), by=st.sampled_from(["patient", "relative"]))
    def revoke(self, data, by):
        if not self.ids:
            return
        pk = data.draw(st.sampled_from(self.ids))
        link = self.links[pk]
        actor = self.patient.user if by == "patient" else self.relative.user
        if link.status not in LIVE:
            self.expect_error("invalid_transition", services.revoke_proxy, actor=actor, proxy_id=pk)
        else:
            services.revoke_proxy(actor=actor, proxy_id=pk)
            link.status, link.consent_live = ProxyStatus.REVOKED, False

    @rule(data=st.data())
    def withdraw_consent(self, data):
        with_consent = [pk for pk in self.ids if Proxy.objects.get(pk=pk).consent_id]
        if not with_consent:
            return
        pk = data.draw(st.sampled_from(with_consent))
        link = self.links[pk]
        consent_id = Proxy.objects.get(pk=pk).consent_id
        if not link.consent_live:
            self.expect_error(
                "already_withdrawn", services.withdraw_consent, actor=self.patient.user, consent_id=consent_id
            )
            return
        services.withdraw_consent(actor=self.patient.user, consent_id=consent_id)
        link.consent_live = False
        if link.status == ProxyStatus.ACTIVE:
            link.status = ProxyStatus.REVOKED

    @rule(data=st.data(), action=st.sampled_from(["approve", "decline", "revoke", "withdraw"]))
    def stranger_interferes(self, data, action):
        if not self.ids:
            return
        pk = data.draw(st.sampled_from(self.ids))
        user = self.stranger.user
        with pytest.raises(NotFound):
            if action == "approve":
                services.approve_proxy(patient_user=user, proxy_id=pk, consent=True)
            elif action == "decline":
                services.decline_proxy(patient_user=user, proxy_id=pk)
            elif action == "revoke":
                services.revoke_proxy(actor=user, proxy_id=pk)
            else:
                consent_id = Proxy.objects.get(pk=pk).consent_id or 0
                services.withdraw_consent(actor=user, consent_id=consent_id)

    # ---- invariants ----------------------------------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self):
        rows = {p.pk: p for p in Proxy.objects.filter(patient=self.patient).select_related("consent")}
        assert set(rows) == set(self.links)
        for pk, link in self.links.items():
            assert rows[pk].status == link.status, (pk, rows[pk].status, link.status)
            assert (rows[pk].consent is not None and rows[pk].consent.active) == link.consent_live
        assert sum(1 for link in self.links.values() if link.status in LIVE) <= 1

    @invariant()
    def chart_readable_iff_active_link_with_live_consent(self):
        expected = any(link.status == ProxyStatus.ACTIVE and link.consent_live for link in self.links.values())
        try:
            chart = records.chart(self.relative.user, self.patient.pk)
        except NotFound:
            readable = False
        else:
            readable = True
            assert chart.access == "proxy"
        assert readable == expected
        # The stranger never can.
        with pytest.raises(NotFound):
            records.chart(self.stranger.user, self.patient.pk)


@pytest.mark.django_db
def test_proxy_lifecycle_state_machine():
    run_state_machine_as_test(
        ProxyLifecycle,
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        ),
    )
