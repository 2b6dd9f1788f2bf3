"""Back office of home nursing: admins manage the catalogue and the nurses' home-care profiles here.

Services are never deleted (requests point at them): untick "active" to retire one; the same checks as the
shipped catalogue's loader apply to every edit. Everything else is read-only here, because it changes only
through the workflow's services, which check and audit each act: shifts (the dispatchers' board), blocks (made
and lifted by the administration's page, so that the reason and who did it are on record and open requests are
cancelled), alarms (the security console) and requests.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ihospital.core.admin import ReadOnlyAdmin

from .catalogue import FIELDS, CatalogueError, _validate
from .models import Alarm, Block, NurseProfile, NursingRequest, NursingService, Shift, Skill


class NursingServiceForm(forms.ModelForm):
    class Meta:
        model = NursingService
        fields = ("code", *FIELDS, "active", "position")

    def clean_duration_minutes(self):
        minutes = self.cleaned_data.get("duration_minutes")
        if minutes is not None and not 0 < minutes <= 240:
            raise ValidationError(_("A visit takes 1 to 240 minutes."))
        return minutes

    def clean_price_fen(self):
        price = self.cleaned_data.get("price_fen")
        if price is not None and price <= 0:
            raise ValidationError(_("A service has a price."))
        return price

    def clean(self):
        cleaned = super().clean()
        # The whole entry as the loader checks it (on the change page; the list edits a few fields, checked above).
        entry = {"code": cleaned.get("code") or getattr(self.instance, "code", "")} | {
            f: cleaned.get(f) for f in FIELDS}
        if all(f in self.fields for f in FIELDS) and all(entry[f] is not None for f in FIELDS):
            try:
                _validate(entry, 1)
            except (CatalogueError, TypeError, AttributeError, KeyError) as error:
                # The loader's message names "service 1 (code)": only the reason is shown here.
                raise ValidationError(_("Not a valid service: %(why)s") % {
                    "why": str(error).split(": ", 1)[-1]}) from None
        return cleaned


@admin.register(NursingService)
class NursingServiceAdmin(admin.ModelAdmin):
    form = NursingServiceForm
    list_display = ("code", "name_zh", "name_en", "duration_minutes", "price_fen", "skill", "min_title",
                    "needs_doctor_order", "active", "position")
    list_editable = ("duration_minutes", "price_fen", "active", "position")
    list_filter = ("active", "skill", "min_title", "needs_doctor_order")
    search_fields = ("code", "name_zh", "name_en")
    ordering = ("position", "code")

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=NursingServiceForm, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Requests and the shipped file refer to a service by its code.
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False


class NurseProfileForm(forms.ModelForm):
    class Meta:
        model = NurseProfile
        fields = ("user", "skills", "base_label", "base_latitude", "base_longitude", "phone")

    def clean_skills(self):
        skills = self.cleaned_data.get("skills") or []
        if not isinstance(skills, list) or set(skills) - set(Skill.values):
            raise ValidationError(_("A list of some of: %(skills)s.") % {"skills": ", ".join(Skill.values)})
        return skills

    def clean(self):
        cleaned = super().clean()
        lat, lng = cleaned.get("base_latitude"), cleaned.get("base_longitude")
        if lat is not None and lng is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValidationError(_("These map coordinates are not valid."))
        return cleaned


@admin.register(NurseProfile)
class NurseProfileAdmin(admin.ModelAdmin):
    form = NurseProfileForm
    list_display = ("user", "skills", "base_label", "base_latitude", "base_longitude", "phone")
    search_fields = ("user__real_name", "user__username", "phone")
    raw_id_fields = ("user",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Shift)
class ShiftAdmin(ReadOnlyAdmin):
    list_display = ("nurse", "day", "starts", "ends", "created_by")
    list_filter = ("day",)
    search_fields = ("nurse__real_name",)
    date_hierarchy = "day"


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ("patient", "blocked_at", "blocked_by", "lifted_at", "lifted_by")
    list_filter = ("lifted_at",)
    search_fields = ("patient__mrn", "patient__user__real_name")


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyAdmin):
    list_display = ("raised_at", "kind", "nurse", "status", "acknowledged_by", "acknowledged_at", "resolved_at",
                    "repeats")
    list_filter = ("kind", "status")
    search_fields = ("nurse__real_name",)


@admin.register(NursingRequest)
class NursingRequestAdmin(ReadOnlyAdmin):
    list_display = ("number", "patient", "service", "group", "preferred_date", "status", "total_fen", "paid_at",
                    "created_at")
    list_filter = ("status", "service", "group")
    search_fields = ("number", "patient__mrn")
    date_hierarchy = "preferred_date"
