from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Consent, PatientProfile, Proxy, StaffProfile, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "real_name", "role", "phone", "is_active", "locked_until")
    list_filter = ("role", "is_active")
    search_fields = ("username", "real_name", "phone")
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "password", "real_name", "phone", "email", "role")}),
        ("Preferences", {"fields": ("language", "elder_mode")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "failed_logins", "locked_until")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "real_name", "role", "password1", "password2")}),
    )


@admin.register(PatientProfile)
class PatientProfileAdmin(admin.ModelAdmin):
    list_display = ("mrn", "user", "birth_date", "sex", "verified_at")
    search_fields = ("mrn", "user__real_name", "user__phone")
    readonly_fields = ("resident_id", "birth_date", "sex", "mrn")


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("employee_no", "user", "verified_at")


@admin.register(Proxy)
class ProxyAdmin(admin.ModelAdmin):
    list_display = ("patient", "proxy_user", "relationship", "status", "created_at")
    list_filter = ("status",)
    readonly_fields = ("status", "consent")


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("patient", "kind", "version", "granted_at", "withdrawn_at")
    list_filter = ("kind",)

    def has_delete_permission(self, request, obj=None):
        return False
