"""The pharmacists' pages of medicine orders: the live dispensing worklist, the work page of one order (start,
the pick list of held lots, pick, check and hand over, collected at the counter, cancel with a reason) and the
orders dashboard with its filters and counts per status.

Every act is one service call; a refusal is shown on the work page with the service's message and status. Two
pharmacists acting on one order at once: the status change is conditional, the second sees why it failed.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.prescriptions.views import live_strings, page_error

from . import selectors, services
from .display import order_timeline, pick_list, shipment_of, tracking_rows
from .forms import DashboardForm, ReasonForm
from .models import OrderStatus

PAGE_SIZE = 50
CANCELLABLE_BY_PHARMACY = (OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.DISPENSING,
                           OrderStatus.READY_FOR_PICKUP)


def pharmacist_page(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != Role.PHARMACIST:
            raise Forbidden("not_a_pharmacist", _("Only pharmacists dispense medicines."))
        return view(request, *args, **kwargs)

    return wrapper


def dispense_url(order_id: int) -> str:
    return reverse("pharmacy:dispense", args=[order_id])


# ---- the worklist ----------------------------------------------------------------------------------------------


@require_GET
@pharmacist_page
def worklist(request):
    rows = list(selectors.dispensing_worklist(request.user))
    context = {
        "waiting": [o for o in rows if o.status == OrderStatus.PAID],
        "preparing": [o for o in rows if o.status == OrderStatus.DISPENSING],
        "counter": [o for o in rows if o.status == OrderStatus.READY_FOR_PICKUP],
    }
    if request.GET.get("part") == "lists":
        return render(request, "pharmacy/_worklist.html", context)
    context["live"] = live_strings()
    return render(request, "pharmacy/worklist.html", context)


# ---- one order -------------------------------------------------------------------------------------------------


def _work_context(request, order, *, cancel_form=None, error=None) -> dict:
    picks = pick_list(order)
    picked = any(row["dispensed"] for row in picks)
    return {
        "order": order, "picks": picks, "picked": picked, "shipment": shipment_of(order),
        "events": tracking_rows(selectors.shipment_events(order)), "history": order_timeline(order),
        "can_start": order.status == OrderStatus.PAID,
        "can_pick": order.status == OrderStatus.DISPENSING and not picked,
        "can_hand_over": order.status == OrderStatus.DISPENSING and picked,
        "can_collect": order.status == OrderStatus.READY_FOR_PICKUP,
        "can_cancel": order.status in CANCELLABLE_BY_PHARMACY,
        "cancel_form": cancel_form or ReasonForm(), "page_error": error, "live": live_strings(),
    }


def _own_work(request, order_id: int, *, audit_read: bool = True):
    order, role = selectors.order_for(request.user, order_id, audit_read=audit_read)
    if role != "pharmacist":
        raise NotFound()
    return order


@require_GET
@pharmacist_page
def dispense(request, order_id: int):
    order = _own_work(request, order_id)
    context = _work_context(request, order)
    if request.GET.get("part") == "work":
        return render(request, "pharmacy/_dispense_work.html", context)
    return render(request, "pharmacy/dispense.html", context)


def _again(request, order_id: int, exc: DomainError, **kwargs):
    order = _own_work(request, order_id, audit_read=False)
    context = _work_context(request, order, error=page_error(exc), **kwargs)
    return render(request, "pharmacy/dispense.html", context, status=exc.status)


def _act(request, order_id: int, act, done: str):
    try:
        act(actor=request.user, order_id=order_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, order_id, exc)
    if done:
        messages.success(request, done)
    return redirect(dispense_url(order_id) + "#work")


@require_POST
@pharmacist_page
def start(request, order_id: int):
    return _act(request, order_id, services.start_dispensing, "")


@require_POST
@pharmacist_page
def pick(request, order_id: int):
    return _act(request, order_id, services.pick,
                _("Picked. Check the medicines against the prescription and pack them."))


@require_POST
@pharmacist_page
def hand_over(request, order_id: int):
    try:
        order = services.hand_over(actor=request.user, order_id=order_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, order_id, exc)
    if order.status == OrderStatus.READY_FOR_PICKUP:
        messages.success(request, _("Order %(number)s is on the counter; the patient was told.")
                         % {"number": order.number})
    else:
        shipment = shipment_of(order)
        messages.success(request, _("Order %(number)s was handed to the courier: tracking number %(no)s.")
                         % {"number": order.number, "no": shipment.tracking_no if shipment else "—"})
    return redirect(dispense_url(order_id) + "#work")


@require_POST
@pharmacist_page
def collect(request, order_id: int):
    return _act(request, order_id, services.collect, _("Collected: the order is complete."))


@require_POST
@pharmacist_page
def cancel(request, order_id: int):
    form = ReasonForm(request.POST)
    form.is_valid()
    try:
        order = services.cancel_order(actor=request.user, order_id=order_id,
                                      reason=form.cleaned_data.get("reason", ""))
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
        else:
            apply_domain_error(form, exc)
        return _again(request, order_id, exc, cancel_form=form)
    messages.success(request, _("Order %(number)s was cancelled (%(status)s).")
                     % {"number": order.number, "status": order.get_status_display()})
    return redirect(dispense_url(order_id))


# ---- the dashboard ---------------------------------------------------------------------------------------------


@require_GET
@pharmacist_page
def dashboard(request):
    form = DashboardForm(request.GET or None)
    if form.is_bound:
        form.is_valid()
    filters = form.filters() if form.is_bound else {}
    orders = selectors.orders_dashboard(request.user, **filters)
    counts = dict(orders.order_by().values_list("status").annotate(n=Count("pk", distinct=True)))
    status = form.chosen_status() if form.is_bound else ""
    if status:
        orders = orders.filter(status=status)
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    without_status = query.copy()
    without_status.pop("status", None)
    context = {
        "form": form, "page": page, "status": status, "total": sum(counts.values()),
        "counts": [(value, label, counts.get(value, 0)) for value, label in OrderStatus.choices],
        "query": query.urlencode(), "without_status": without_status.urlencode(),
    }
    return render(request, "pharmacy/dashboard.html", context, status=400 if form.errors else 200)
