from django.contrib import admin

from .models import ConsultationDay, Message, Visit, VisitNote


class NoDeleteAdmin(admin.ModelAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Visit)
class VisitAdmin(NoDeleteAdmin):
    list_display = ("pk", "patient", "department", "doctor", "mode", "status", "basis_status", "created_at")
    list_filter = ("status", "mode", "department")
    readonly_fields = ("status", "encounter", "appointment")


@admin.register(Message)
class MessageAdmin(NoDeleteAdmin):
    list_display = ("pk", "visit", "sender", "kind", "created_at")


@admin.register(VisitNote)
class VisitNoteAdmin(NoDeleteAdmin):
    list_display = ("visit", "author", "updated_at")


@admin.register(ConsultationDay)
class ConsultationDayAdmin(admin.ModelAdmin):
    list_display = ("practitioner", "date", "verified_at")
