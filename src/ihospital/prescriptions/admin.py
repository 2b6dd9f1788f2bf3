"""Back office: admins manage the formulary, the interaction table and the allergy groups here.

Drugs are never deleted (signed prescriptions point at them): untick "in the formulary" to retire one.
Prescriptions, reviews and refill requests are read-only here; they change only through the workflow
(services), which checks, seals and audits every step.
"""

from django.contrib import admin

from ihospital.core.admin import ReadOnlyAdmin

from .models import AllergyGroup, Drug, Interaction, Prescription, PrescriptionItem, RefillRequest, Review


@admin.register(Drug)
class DrugAdmin(admin.ModelAdmin):
    list_display = ("sku", "generic_name_zh", "generic_name_en", "strength", "package_size", "package_unit",
                    "price_fen", "atc_code", "control_class", "chronic", "cold_chain", "active")
    list_filter = ("active", "control_class", "area", "form", "chronic", "cold_chain")
    search_fields = ("sku", "generic_name_zh", "generic_name_en", "brand_name_zh", "brand_name_en", "atc_code")
    ordering = ("area", "generic_name_en")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("atc_a", "atc_b", "severity", "effect_en", "source")
    list_filter = ("severity",)
    search_fields = ("atc_a", "atc_b", "effect_zh", "effect_en", "source")


@admin.register(AllergyGroup)
class AllergyGroupAdmin(admin.ModelAdmin):
    list_display = ("key", "label_zh", "label_en")
    search_fields = ("key", "label_zh", "label_en", "keywords")


class ItemInline(admin.TabularInline):
    model = PrescriptionItem
    extra = 0
    can_delete = False
    readonly_fields = ("drug", "dose", "dose_unit", "frequency", "route", "duration_days", "quantity", "instructions")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Prescription)
class PrescriptionAdmin(ReadOnlyAdmin):
    list_display = ("number", "patient", "doctor", "kind", "status", "signed_at", "reviewed_at")
    list_filter = ("status", "kind", "department")
    search_fields = ("number", "patient__mrn", "diagnosis_code")
    inlines = [ItemInline]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("prescription", "pharmacist", "decision", "created_at")
    list_filter = ("decision",)


@admin.register(RefillRequest)
class RefillRequestAdmin(ReadOnlyAdmin):
    list_display = ("pk", "patient", "prescription", "doctor", "status", "created_at", "decided_at")
    list_filter = ("status", "department")
