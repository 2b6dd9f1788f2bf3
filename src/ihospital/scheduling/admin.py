"""Back-office views of schedules and bookings.

Rules, closures, slots and appointments change only through the services (API and pages), which check the
doctor's eligibility, keep slot capacity consistent and write the audit log; the admin shows them and can
retire rules through the same service.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

from . import services
from .models import Appointment, AvailabilityRule, Closure, Slot


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AvailabilityRule)
class AvailabilityRuleAdmin(ReadOnlyAdmin):
    list_display = ("practitioner", "department", "weekday", "start_time", "end_time", "slot_minutes", "capacity",
                    "mode", "valid_from", "valid_until", "active")
    list_filter = ("active", "mode", "weekday", "department")
    search_fields = ("practitioner__user__real_name",)
    actions = ["retire"]

    @admin.action(description=_("Retire the selected rules"))
    def retire(self, request, queryset):
        for rule in queryset.filter(active=True):
            try:
                services.retire_rule(actor=request.user, rule_id=rule.pk)
            except DomainError as exc:
                self.message_user(request, f"{rule}: {exc.message}", messages.ERROR)


@admin.register(Closure)
class ClosureAdmin(ReadOnlyAdmin):
    list_display = ("date", "start_time", "end_time", "practitioner", "reason", "created_by")
    list_filter = ("date",)


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ("starts_at", "ends_at", "practitioner", "department", "mode", "capacity", "booked", "status")
    list_filter = ("status", "mode", "department")
    date_hierarchy = "starts_at"


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "patient", "slot", "status", "created_at", "rescheduled_from")
    list_filter = ("status",)
    search_fields = ("patient__mrn", "patient__user__real_name")
