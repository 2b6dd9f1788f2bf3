"""Back office of medical tests: admins manage the catalogue (tests, their analytes and reference ranges) and the
resources exams run on here, with the same checks as the shipped catalogue's loader.

Tests, analytes and resources are never deleted (orders and results point at them): untick "active" to retire
one. A reference range may be replaced. Everything else is read-only here, because it changes only through the
workflow's services, which check and audit each act: slots (generated from the resources' hours), orders,
results and imaging studies.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ihospital.core.admin import ReadOnlyAdmin

from .catalogue import RANGE_BOUNDS, TEST_FIELDS, CatalogueError, validate_hours, validate_range, validate_test
from .models import (
    Analyte,
    DiagnosticOrder,
    DiagnosticTest,
    ImagingStudy,
    Observation,
    ReferenceRange,
    Resource,
    ResourceSlot,
)


def _refuse(error: Exception, what) -> ValidationError:
    # The loader's messages name the entry ("test 3 (code): ..."): only the reason is shown here.
    return ValidationError(_("Not valid: %(what)s: %(why)s") % {"what": what, "why": str(error).split(": ", 1)[-1]})


class DiagnosticTestForm(forms.ModelForm):
    class Meta:
        model = DiagnosticTest
        fields = ("code", *TEST_FIELDS, "active", "position")

    def clean_price_fen(self):
        price = self.cleaned_data.get("price_fen")
        if price is not None and price <= 0:
            raise ValidationError(_("A test has a price."))
        return price

    def clean(self):
        cleaned = super().clean()
        # The whole entry as the loader checks it (on the change page; the list edits a few fields, checked above).
        entry = {"code": cleaned.get("code") or getattr(self.instance, "code", "")} | {
            f: cleaned.get(f) for f in TEST_FIELDS}
        if all(f in self.fields for f in TEST_FIELDS) and all(entry[f] is not None for f in TEST_FIELDS):
            known = set(DiagnosticTest.objects.values_list("code", flat=True)) | {entry["code"]}
            try:
                validate_test(entry, known)
            except (CatalogueError, TypeError, AttributeError) as error:
                raise _refuse(error, _("test")) from None
        return cleaned


class AnalyteInline(admin.TabularInline):
    model = Analyte
    fields = ("code", "loinc", "name_zh", "name_en", "unit", "decimals", "position")
    extra = 0
    can_delete = False
    show_change_link = True  # its reference ranges are edited on the analyte's own page


@admin.register(DiagnosticTest)
class DiagnosticTestAdmin(admin.ModelAdmin):
    form = DiagnosticTestForm
    inlines = [AnalyteInline]
    list_display = ("code", "name_zh", "name_en", "kind", "specimen", "modality", "price_fen", "turnaround_hours",
                    "active", "position")
    list_editable = ("price_fen", "active", "position")
    list_filter = ("active", "kind", "modality", "specimen")
    search_fields = ("code", "name_zh", "name_en", "loinc")

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=DiagnosticTestForm, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Orders, resources and the shipped file refer to a test by its code.
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False


class ReferenceRangeForm(forms.ModelForm):
    class Meta:
        model = ReferenceRange
        fields = ("sex", "age_min", "age_max", *RANGE_BOUNDS)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            validate_range({f: cleaned.get(f) for f in self.Meta.fields} | {"sex": cleaned.get("sex") or ""})
        except CatalogueError as error:
            raise _refuse(error, _("reference range")) from None
        return cleaned


class ReferenceRangeInline(admin.TabularInline):
    model = ReferenceRange
    form = ReferenceRangeForm
    extra = 0


@admin.register(Analyte)
class AnalyteAdmin(admin.ModelAdmin):
    inlines = [ReferenceRangeInline]
    fields = ("test", "code", "loinc", "name_zh", "name_en", "unit", "decimals", "position")
    list_display = ("test", "code", "name_zh", "name_en", "unit", "loinc")
    list_filter = ("test",)
    search_fields = ("code", "name_zh", "name_en", "loinc", "test__code")

    def get_readonly_fields(self, request, obj=None):
        return ("test", "code") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False


class ResourceForm(forms.ModelForm):
    class Meta:
        model = Resource
        fields = ("code", "name_zh", "name_en", "location_zh", "location_en", "tests", "slot_minutes", "capacity",
                  "hours", "active")

    def clean_hours(self):
        hours = self.cleaned_data.get("hours")
        try:
            validate_hours(hours)
        except CatalogueError as error:
            raise _refuse(error, _("opening hours")) from None
        return hours

    def clean_capacity(self):
        capacity = self.cleaned_data.get("capacity")
        if capacity is not None and capacity < 1:
            raise ValidationError(_("A resource takes at least one patient per slot."))
        return capacity

    def clean_slot_minutes(self):
        minutes = self.cleaned_data.get("slot_minutes")
        if minutes is not None and not 5 <= minutes <= 240:
            raise ValidationError(_("A slot lasts 5 to 240 minutes."))
        return minutes


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    form = ResourceForm
    list_display = ("code", "name_zh", "name_en", "slot_minutes", "capacity", "active")
    list_filter = ("active",)
    search_fields = ("code", "name_zh", "name_en")
    filter_horizontal = ("tests",)

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ResourceSlot)
class ResourceSlotAdmin(ReadOnlyAdmin):
    list_display = ("resource", "starts_at", "ends_at", "capacity", "booked", "closed")
    list_filter = ("resource", "closed")
    date_hierarchy = "starts_at"


@admin.register(DiagnosticOrder)
class DiagnosticOrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "patient", "test", "doctor", "status", "price_fen", "ordered_at", "released_at")
    list_filter = ("status", "test")
    search_fields = ("number", "patient__mrn")
    date_hierarchy = "ordered_at"


@admin.register(Observation)
class ObservationAdmin(ReadOnlyAdmin):
    list_display = ("order", "analyte", "value", "text", "unit", "flag", "version", "source", "observed_at")
    list_filter = ("flag", "source")
    search_fields = ("order__number",)


@admin.register(ImagingStudy)
class ImagingStudyAdmin(ReadOnlyAdmin):
    list_display = ("order", "study_uid", "modality", "study_date", "reported_by", "reported_at")
    list_filter = ("modality",)
    search_fields = ("order__number", "study_uid")
