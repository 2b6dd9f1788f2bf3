from django.contrib import admin

from .models import AuditEvent, TimelineEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "actor_label", "action", "object_type", "object_id", "patient_id", "outcome")
    list_filter = ("action", "outcome", "object_type")
    search_fields = ("actor_label", "object_id", "request_id")


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "content_type", "object_id", "from_status", "to_status", "actor")
