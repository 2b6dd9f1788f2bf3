"""Back office of remote consultation: admins manage the fees agreed with each partner facility (``Tariff``).
A tariff is never deleted nor changed once a request has copied it (sent requests keep their fee): a new fee is a
new row with a later ``valid_from``. Everything else is read-only here, because it changes only through the
workflow's services, which check and audit each act."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ihospital.core.admin import ReadOnlyAdmin

from .models import (
    Assignment,
    Attachment,
    ConsultRequest,
    ConsultSession,
    Escalation,
    Opinion,
    Report,
    Tariff,
)


class TariffForm(forms.ModelForm):
    class Meta:
        model = Tariff
        fields = ("facility", "urgency", "mode", "fee_fen", "valid_from")

    def clean_fee_fen(self):
        fee = self.cleaned_data.get("fee_fen")
        if fee is not None and fee <= 0:
            raise ValidationError(_("A consultation has a fee."))
        return fee


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    form = TariffForm
    list_display = ("facility", "urgency", "mode", "fee_fen", "valid_from")
    list_filter = ("facility", "urgency", "mode")
    ordering = ("facility", "urgency", "mode", "-valid_from")

    def _used(self, obj) -> bool:
        return obj is not None and ConsultRequest.objects.filter(tariff=obj).exists()

    def get_readonly_fields(self, request, obj=None):
        # A tariff a request has copied stays as it was: add a new one from a later day instead.
        return TariffForm.Meta.fields if self._used(obj) else ()

    def has_delete_permission(self, request, obj=None):
        return False


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = ("kind", "document", "order", "study", "note", "added_by", "added_at", "removed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AssignmentInline(admin.TabularInline):
    model = Assignment
    fk_name = "request"
    fields = ("expert", "role", "assigned_by", "assigned_at", "accepted_at", "ended_at", "end_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ConsultRequest)
class ConsultRequestAdmin(ReadOnlyAdmin):
    list_display = ("number", "status", "urgency", "mode", "referring_facility", "department", "submitted_at",
                    "first_response_due", "report_due", "escalation_level", "fee_fen")
    list_filter = ("status", "urgency", "mode", "referring_facility")
    search_fields = ("number",)
    inlines = (AttachmentInline, AssignmentInline)


@admin.register(Opinion)
class OpinionAdmin(ReadOnlyAdmin):
    list_display = ("request", "expert", "version", "submitted_at", "superseded_at")
    search_fields = ("request__number",)


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("request", "lead", "signed_at", "acknowledged_at", "digest")
    search_fields = ("request__number",)


@admin.register(ConsultSession)
class ConsultSessionAdmin(ReadOnlyAdmin):
    list_display = ("request", "starts_at", "minutes", "status", "include_patient")
    list_filter = ("status",)


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ("request", "kind", "level", "at")
    list_filter = ("kind", "level")
