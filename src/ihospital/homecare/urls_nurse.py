"""The nurse's phone pages (views_nurse), the alarm endpoints (token-authenticated) and the security console
(views_security)."""

from django.urls import path

from . import views_nurse, views_security

urlpatterns = [
    # The nurse: today's route, one visit and its acts.
    path("route/", views_nurse.route, name="route"),
    path("visits/<int:visit_id>/", views_nurse.visit, name="visit"),
    path("visits/<int:visit_id>/set-out/", views_nurse.set_out, name="nurse_set_out"),
    path("visits/<int:visit_id>/turn-back/", views_nurse.turn_back, name="nurse_turn_back"),
    path("visits/<int:visit_id>/check-in/", views_nurse.check_in, name="nurse_check_in"),
    path("visits/<int:visit_id>/record/", views_nurse.record, name="nurse_record"),
    path("visits/<int:visit_id>/check-out/", views_nurse.check_out, name="nurse_check_out"),
    path("visits/<int:visit_id>/correction/", views_nurse.correction, name="nurse_correction"),
    # The one-touch alarm: no session, no CSRF; the page's alarm token authenticates.
    path("alarm/", views_nurse.alarm, name="alarm"),
    path("alarm/status/", views_nurse.alarm_status, name="alarm_status"),
    # Security (and admins, dispatchers): the live console, acknowledge, resolve, the last alarms.
    path("security/", views_security.console, name="security"),
    path("security/history/", views_security.history, name="security_history"),
    path("security/alarms/<int:alarm_id>/acknowledge/", views_security.acknowledge, name="security_acknowledge"),
    path("security/alarms/<int:alarm_id>/resolve/", views_security.resolve, name="security_resolve"),
]
