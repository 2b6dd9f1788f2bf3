from django.contrib import admin

from .models import Department, Facility, Practitioner, Qualification


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "kind", "level", "city")


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "facility", "offers_online_visits")
    list_filter = ("facility",)


class QualificationInline(admin.TabularInline):
    model = Qualification
    extra = 0


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "profession",
        "title",
        "licence_no",
        "facility",
        "independent_practice_since",
        "verified_at",
    )
    list_filter = ("profession", "facility")
    search_fields = ("user__real_name", "licence_no")
    inlines = [QualificationInline]
