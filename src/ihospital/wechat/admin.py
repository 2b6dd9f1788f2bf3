from django.contrib import admin

from .models import Binding, InboundMessage, MenuPublication


class ReadOnly(admin.ModelAdmin):
    """Written by the services only (audited); the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Binding)
class BindingAdmin(ReadOnly):
    list_display = ("user", "openid", "nickname", "bound_at", "unbound_at")
    list_filter = ("unbound_at",)
    search_fields = ("openid", "unionid", "user__username", "user__phone")


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnly):
    list_display = ("received_at", "kind", "event", "openid", "encrypted")
    list_filter = ("kind", "encrypted")


@admin.register(MenuPublication)
class MenuPublicationAdmin(ReadOnly):
    list_display = ("published_at", "by", "ok", "error")
    list_filter = ("ok",)

