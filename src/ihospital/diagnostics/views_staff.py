"""The staff's medical-test pages: doctors order tests and sign results off, lab and imaging technicians check
patients in, enter and import results and upload images, and radiologists report studies.

Each act is one service call (``ordering``, ``booking``, ``results``, ``hl7import``, ``csvimport``, ``imaging``);
a refusal is shown in place with the service's message, code and status. The order's own page
(``diagnostics:order``) is role-aware and belongs to the patient pages; these link to it.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.pages import apply_domain_error, role_page
from ihospital.visits.models import Visit, VisitStatus

from . import booking, csvimport, hl7import, imaging, ordering, results, selectors
from .flags import CRITICAL_FLAGS
from .forms import CsvForm, Hl7Form, OrderForm, ReportForm
from .models import Booking, DiagnosticKind, DiagnosticOrder, DiagnosticTest, OrderStatus

doctor_page = role_page(lambda user: user.role == Role.DOCTOR, "not_a_doctor",
                       gettext_lazy("This page is for doctors."))
lab_page = role_page(lambda user: user.role == Role.LAB_TECH, "not_lab_staff",
                    gettext_lazy("This page is for lab and imaging technicians."))


def order_url(order_id: int) -> str:
    """The role-aware order page (the patient pages define it)."""
    try:
        return reverse("diagnostics:order", args=[order_id])
    except NoReverseMatch:
        return f"/diagnostics/orders/{order_id}/"


def preview_url(instance_id: int) -> str:
    try:
        return reverse("diagnostics:preview", args=[instance_id])
    except NoReverseMatch:
        return f"/diagnostics/images/{instance_id}/preview.png"


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "code": exc.code, "link": exc.link}


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


# ---- doctors: ordering --------------------------------------------------------------------------------------------


def _order_context(request) -> dict:
    """The patient and the visit or encounter named in the address; 404 when they are not the doctor's."""
    visit_id, encounter_id = _int(request.GET.get("visit")), _int(request.GET.get("encounter"))
    patient_id = _int(request.GET.get("patient"))
    if visit_id is not None:
        visit = Visit.objects.filter(pk=visit_id, doctor__user=request.user).select_related("patient__user").first()
        if visit is None:
            raise NotFound()
        return {"visit_id": visit.pk, "encounter_id": None, "patient": visit.patient}
    if encounter_id is not None and patient_id is not None:
        from ihospital.records.models import Encounter

        encounter = (Encounter.objects.filter(pk=encounter_id, patient_id=patient_id)
                     .filter(Q(practitioner__user=request.user) | Q(recorded_by=request.user))
                     .select_related("patient__user").first())
        if encounter is None:
            raise NotFound()
        return {"visit_id": None, "encounter_id": encounter.pk, "patient": encounter.patient}
    raise NotFound()


def _catalogue(query: str) -> list[dict]:
    tests = DiagnosticTest.objects.filter(active=True)
    if query:
        tests = tests.filter(Q(name_zh__icontains=query) | Q(name_en__icontains=query) | Q(code__icontains=query))
    groups = []
    for kind, label in DiagnosticKind.choices:
        items = [t for t in tests if t.kind == kind]
        if items:
            groups.append({"kind": kind, "label": label, "tests": items})
    return groups


@doctor_page
@require_http_methods(["GET", "POST"])
def order_new(request):
    if ordering.doctor_of(request.user) is None:
        raise Forbidden("not_a_doctor", gettext_lazy("Only a doctor can order tests."))
    context = _order_context(request)
    query = (request.GET.get("q") or "").strip()
    form = OrderForm(request.POST or None, initial={"test_code": request.GET.get("test", "")})
    status, error = 200, None
    if request.method == "POST" and form.is_valid():
        test = DiagnosticTest.objects.filter(code=form.cleaned_data["test_code"], active=True).first()
        try:
            placed = ordering.order(
                actor=request.user, patient_id=context["patient"].pk, test_code=form.cleaned_data["test_code"],
                reason=form.cleaned_data["reason"], visit_id=context["visit_id"],
                encounter_id=context["encounter_id"],
                safety=form.safety() if test is not None and test.needs_contrast else None)
        except DomainError as exc:
            apply_domain_error(form, exc)
            status, error = exc.status, page_error(exc)
        else:
            messages.success(request, _("Test ordered: %(number)s") % {"number": placed.number})
            return redirect(order_url(placed.pk))
    elif request.method == "POST":
        status = 400
    chosen = DiagnosticTest.objects.filter(code=form["test_code"].value() or "", active=True).first()
    return render(request, "diagnostics/doctor_order_new.html", {
        **context, "form": form, "groups": _catalogue(query), "query": query, "chosen": chosen,
        "page_error": error, "safety_fields": [form[name] for name in OrderForm.SAFETY_FIELDS],
    }, status=status)


@doctor_page
@require_http_methods(["GET"])
def visit_orders(request, visit_id: int):
    """The tests ordered during an online visit, and the way to order more while it is in progress: the panel the
    visit room loads (htmx), or a page without JavaScript. Only the visit's doctor; 404 (audited) for anyone else."""
    orders = [{"order": o, "url": order_url(o.pk)} for o in selectors.orders_of_visit(request.user, visit_id)]
    visit = Visit.objects.select_related("patient__user").get(pk=visit_id)
    context = {"visit": visit, "orders": orders, "can_order": visit.status == VisitStatus.IN_PROGRESS}
    if request.htmx:
        return render(request, "diagnostics/_visit_orders.html", context)
    return render(request, "diagnostics/visit_orders.html", context)


# ---- doctors: sign-off --------------------------------------------------------------------------------------------


def _waiting_sign_off(user) -> list[dict]:
    orders = (DiagnosticOrder.objects.filter(doctor__user=user, status=OrderStatus.RESULTED)
              .select_related("patient__user", "test").order_by("ordered_at"))
    rows = []
    for order in orders:
        critical = [o for o in results.current_observations(order) if o.flag in CRITICAL_FLAGS]
        rows.append({"order": order, "critical": critical, "url": order_url(order.pk)})
    rows.sort(key=lambda row: not row["critical"])
    return rows


@doctor_page
@require_http_methods(["GET"])
def signoff(request):
    return render(request, "diagnostics/doctor_signoff.html", {"rows": _waiting_sign_off(request.user)})


@doctor_page
@require_POST
def signoff_order(request, order_id: int):
    try:
        order = results.sign_off(actor=request.user, order_id=order_id)
    except DomainError as exc:
        return render(request, "diagnostics/doctor_signoff.html", {
            "rows": _waiting_sign_off(request.user), "page_error": page_error(exc)}, status=exc.status)
    messages.success(request, _("Signed off and released: %(number)s") % {"number": order.number})
    return redirect(request.POST.get("back") == "order" and order_url(order.pk) or reverse("diagnostics:signoff"))


# ---- lab technicians ----------------------------------------------------------------------------------------------


def _lab_context() -> dict:
    start, end = booking.day_bounds(timezone.localdate())
    bookings = (Booking.objects.live().filter(slot__starts_at__gte=start, slot__starts_at__lt=end)
                .select_related("slot__resource", "order__patient__user", "order__test")
                .order_by("slot__resource__code", "slot__starts_at"))
    resources: dict[int, dict] = {}
    for b in bookings:
        entry = resources.setdefault(b.slot.resource_id, {"resource": b.slot.resource, "bookings": []})
        entry["bookings"].append({"booking": b, "order": b.order, "url": order_url(b.order_id)})
    waiting = (DiagnosticOrder.objects.filter(status__in=(OrderStatus.CHECKED_IN, OrderStatus.COLLECTED))
               .select_related("patient__user", "test").order_by("ordered_at"))
    return {"resources": list(resources.values()),
            "waiting": [{"order": o, "url": order_url(o.pk), "imaging": imaging.is_imaging(o)} for o in waiting]}


@lab_page
@require_http_methods(["GET"])
def lab(request):
    return render(request, "diagnostics/lab_home.html", _lab_context())


@lab_page
@require_POST
def lab_check_in(request, order_id: int):
    try:
        done = booking.check_in(actor=request.user, order_id=order_id)
    except DomainError as exc:
        return render(request, "diagnostics/lab_home.html", {**_lab_context(), "page_error": page_error(exc)},
                      status=exc.status)
    messages.success(request, _("Checked in: %(number)s") % {"number": done.order.number})
    return redirect("diagnostics:lab")


@lab_page
@require_POST
def lab_collect(request, order_id: int):
    """The specimen of a checked-in lab order was taken: it can be resulted now."""
    try:
        order = results.collect(actor=request.user, order_id=order_id)
    except DomainError as exc:
        return render(request, "diagnostics/lab_home.html", {**_lab_context(), "page_error": page_error(exc)},
                      status=exc.status)
    messages.success(request, _("Specimen collected: %(number)s") % {"number": order.number})
    return redirect("diagnostics:lab")


@lab_page
@require_http_methods(["GET", "POST"])
def lab_results(request, order_id: int):
    order, _role = selectors.order_for(request.user, order_id, roles=("lab",))
    analytes = list(order.test.analytes.all())
    current = {o.analyte_id: o for o in results.current_observations(order)}
    rows = [{"analyte": a, "value": "", "text": "", "error": "", "current": current.get(a.pk)} for a in analytes]
    status, error = 200, None
    if request.method == "POST":
        values = []
        for row in rows:
            a = row["analyte"]
            row["value"] = (request.POST.get(f"value-{a.code}") or "").strip()
            row["text"] = (request.POST.get(f"text-{a.code}") or "").strip()
            if row["value"] or row["text"]:
                row["index"] = len(values)
                values.append({"analyte": a.code, "value": row["value"] or None, "text": row["text"]})
        try:
            results.record(actor=request.user, order_id=order.pk, values=values)
        except DomainError as exc:
            status, error = exc.status, page_error(exc)
            for row in rows:
                if f"values.{row.get('index')}" in exc.fields:
                    row["error"] = exc.fields[f"values.{row['index']}"]
        else:
            messages.success(request, _("Results recorded: %(number)s") % {"number": order.number})
            return redirect(order_url(order.pk))
    return render(request, "diagnostics/lab_results.html", {
        "order": order, "rows": rows, "page_error": error, "order_url": order_url(order.pk)}, status=status)


@lab_page
@require_http_methods(["GET", "POST"])
def lab_hl7(request):
    form = Hl7Form(request.POST or None, request.FILES or None)
    report, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data.get("file")
            message = upload.read() if upload else form.cleaned_data["message"]
            report = hl7import.import_oru(actor=request.user, message=message)
            if not report.ok:
                status = 400
        else:
            status = 400
    return render(request, "diagnostics/lab_hl7.html", {"form": form, "report": report}, status=status)


@lab_page
@require_http_methods(["GET", "POST"])
def lab_csv(request):
    form = CsvForm(request.POST or None, request.FILES or None)
    report, status, error, problems = None, 200, None, []
    if request.method == "POST":
        if form.is_valid():
            try:
                report = csvimport.import_csv(actor=request.user, data=form.cleaned_data["file"].read())
            except DomainError as exc:
                status, error = exc.status, page_error(exc)
                problems = [{"where": k, "problem": v} for k, v in exc.fields.items()]
        else:
            status = 400
    return render(request, "diagnostics/lab_csv.html", {
        "form": form, "report": report, "page_error": error, "problems": problems}, status=status)


@lab_page
@require_http_methods(["GET", "POST"])
def lab_dicom(request, order_id: int):
    order, _role = selectors.order_for(request.user, order_id, roles=("lab",))
    outcomes, status = [], 200
    if request.method == "POST":
        files = request.FILES.getlist("files")
        if not files:
            outcomes.append({"name": "", "ok": False, "code": "no_file", "message": _("Choose one or more files.")})
        for upload in files:
            try:
                instance = imaging.upload(actor=request.user, order_id=order.pk, file=upload)
            except DomainError as exc:
                outcomes.append({"name": upload.name, "ok": False, "code": exc.code, "message": exc.message})
            else:
                outcomes.append({"name": upload.name, "ok": True, "instance": instance,
                                 "preview": preview_url(instance.pk)})
        if any(not o["ok"] for o in outcomes):
            status = 400
        order.refresh_from_db()
    study = order.study if hasattr(order, "study") else None
    instances = [{"instance": i, "preview": preview_url(i.pk)} for i in study.instances.all()] if study else []
    return render(request, "diagnostics/lab_dicom.html", {
        "order": order, "outcomes": outcomes, "instances": instances, "order_url": order_url(order.pk),
        "imaging": imaging.is_imaging(order)}, status=status)


# ---- radiologists (and the ordering doctor): the imaging report ---------------------------------------------------


@doctor_page
@require_http_methods(["GET", "POST"])
def report(request, order_id: int):
    order, _role = selectors.order_for(request.user, order_id, roles=("doctor", "radiologist"))
    form = ReportForm(request.POST or None)
    status, error = 200, None
    if request.method == "POST" and form.is_valid():
        try:
            imaging.report(actor=request.user, order_id=order.pk, findings=form.cleaned_data["findings"],
                           impression=form.cleaned_data["impression"])
        except DomainError as exc:
            apply_domain_error(form, exc)
            status, error = exc.status, page_error(exc)
        else:
            messages.success(request, _("Report saved: %(number)s") % {"number": order.number})
            return redirect(order_url(order.pk))
    study = order.study if hasattr(order, "study") else None
    instances = [{"instance": i, "preview": preview_url(i.pk)} for i in study.instances.all()] if study else []
    return render(request, "diagnostics/staff_report.html", {
        "order": order, "form": form, "study": study, "instances": instances, "page_error": error,
        "order_url": order_url(order.pk)}, status=status)
