from django.contrib import admin

from .models import Allergy, CareRelationship, Condition, Document, Encounter, MedicationStatement


class ChartEntryAdmin(admin.ModelAdmin):
    """Charts are never deleted, not even from the admin site."""

    readonly_fields = ("recorded_by", "recorded_at")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Encounter)
class EncounterAdmin(ChartEntryAdmin):
    list_display = ("patient", "mode", "facility", "department", "practitioner", "started_at")
    list_filter = ("mode", "facility")


@admin.register(Condition)
class ConditionAdmin(ChartEntryAdmin):
    list_display = ("patient", "code", "display", "verification", "clinical_status", "chronic")
    search_fields = ("code", "display")


@admin.register(Allergy)
class AllergyAdmin(ChartEntryAdmin):
    list_display = ("patient", "substance", "severity", "verified")


@admin.register(MedicationStatement)
class MedicationStatementAdmin(ChartEntryAdmin):
    list_display = ("patient", "medication", "dose", "frequency", "status")


@admin.register(Document)
class DocumentAdmin(ChartEntryAdmin):
    list_display = ("patient", "kind", "title", "content_type", "size", "recorded_at")
    readonly_fields = ("storage_name", "sha256", "size", "content_type", "recorded_by", "recorded_at")


@admin.register(CareRelationship)
class CareRelationshipAdmin(admin.ModelAdmin):
    list_display = ("patient", "clinician", "source", "source_id", "starts_at", "ends_at")
    list_filter = ("source",)
