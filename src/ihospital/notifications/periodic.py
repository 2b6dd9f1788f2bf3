"""Notifications' periodic job (see ``ihospital.core.periodic``): deliveries whose task was lost are queued again."""

from datetime import timedelta

from ihospital.core import periodic

from .services import requeue_stale

periodic.register("notifications.requeue_stale", requeue_stale, every=timedelta(minutes=15))
