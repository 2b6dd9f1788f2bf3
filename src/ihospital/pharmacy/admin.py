"""Back office: stock lots are managed here (receiving a delivery from the wholesaler, correcting a count);
orders, dispenses and shipments are read-only: they change only through the workflow (services)."""

from django.contrib import admin

from ihospital.core.admin import ReadOnlyAdmin

from .models import Address, Dispense, Order, OrderLine, Shipment, StockLot, TrackingEvent


@admin.register(StockLot)
class StockLotAdmin(admin.ModelAdmin):
    list_display = ("drug", "lot_no", "expires_on", "on_hand", "reserved", "received_on")
    list_filter = ("drug__area", "drug__cold_chain")
    search_fields = ("lot_no", "drug__sku", "drug__generic_name_zh", "drug__generic_name_en")
    readonly_fields = ("reserved",)
    ordering = ("drug__sku", "expires_on")

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = ("item", "drug", "quantity", "unit_price_fen", "line_fen")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "patient", "fulfilment", "status", "total_fen", "cold_chain", "created_at")
    list_filter = ("status", "fulfilment", "cold_chain")
    search_fields = ("number", "prescription__number", "patient__mrn")
    inlines = [LineInline]


@admin.register(Dispense)
class DispenseAdmin(ReadOnlyAdmin):
    list_display = ("line", "lot", "quantity", "by", "at")


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = ("order", "provider", "service", "tracking_no", "status", "created_at")
    list_filter = ("provider", "service", "status")
    search_fields = ("tracking_no", "order__number")


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = ("shipment", "status", "occurred_at", "received_at", "location")


@admin.register(Address)
class AddressAdmin(ReadOnlyAdmin):
    list_display = ("patient", "recipient", "city", "district", "archived")
