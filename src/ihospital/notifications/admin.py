from django.contrib import admin

from .models import Delivery, Notification, OutboxMessage, Preference


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("channel", "status", "attempts", "next_attempt_at", "sent_at", "provider_ref", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "title", "created_at", "read_at")
    list_filter = ("kind",)
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("notification", "channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    list_filter = ("channel", "status")
    readonly_fields = ("notification", "channel", "status", "attempts", "next_attempt_at", "last_error",
                       "provider_ref", "created_at", "sent_at")

    def has_add_permission(self, request):
        return False


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "wechat", "sms", "email", "quiet_start", "quiet_end", "updated_at")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "channel", "to", "subject")
    list_filter = ("channel",)
    readonly_fields = ("channel", "to", "subject", "body", "created_at")

    def has_add_permission(self, request):
        return False
