"""Back office: charges, attempts, refunds and callbacks are read-only here; they change only through the
services (and the providers' signed callbacks), which audit every step."""

from django.contrib import admin

from ihospital.core.admin import ReadOnlyAdmin

from .models import (
    Charge,
    Payment,
    ProviderEvent,
    Refund,
    SandboxNotification,
    SandboxRefund,
    SandboxTransaction,
)


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ("provider", "out_trade_no", "status", "amount_fen", "provider_txn_id", "refunded_fen", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ("out_refund_no", "amount_fen", "cause", "status", "reason", "created_at", "settled_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = ("pk", "reference", "subject", "amount_fen", "status", "refunded_fen", "payer", "created_at",
                    "paid_at")
    list_filter = ("status", "kind")
    search_fields = ("reference", "subject")
    inlines = [PaymentInline, RefundInline]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("out_trade_no", "charge", "provider", "status", "amount_fen", "provider_txn_id", "created_at")
    list_filter = ("provider", "status")
    search_fields = ("out_trade_no", "provider_txn_id", "charge__reference")


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("out_refund_no", "charge", "amount_fen", "cause", "status", "created_at", "settled_at")
    list_filter = ("status", "cause")
    search_fields = ("out_refund_no", "provider_refund_id", "charge__reference")


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "provider", "event_id", "kind", "outcome", "payment", "refund")
    list_filter = ("provider", "kind", "outcome")
    search_fields = ("event_id",)


@admin.register(SandboxTransaction)
class SandboxTransactionAdmin(ReadOnlyAdmin):
    list_display = ("out_trade_no", "transaction_id", "amount_fen", "status", "refunded_fen", "created_at")
    list_filter = ("status",)


@admin.register(SandboxRefund)
class SandboxRefundAdmin(ReadOnlyAdmin):
    list_display = ("out_refund_no", "refund_id", "amount_fen", "succeeded", "created_at")


@admin.register(SandboxNotification)
class SandboxNotificationAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "state", "attempts", "last_status", "next_attempt_at", "delivered_at")
    list_filter = ("state",)
