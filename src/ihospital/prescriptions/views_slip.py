"""The slip of a signed prescription (printable page and PDF) and the public check behind its QR code.

Only a signed prescription has a slip: a draft answers 404 like someone else's prescription. The check
(``/rx/verify/<number>/?h=...``) needs no sign-in and says only what ``services.verify_slip`` allows: genuine or
not, the status, the masked patient, the doctor, the facility and the dates. Never a medicine.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ihospital.core.errors import NotFound

from . import selectors, services
from .slip import render_pdf, slip_for


def verify_path(rx) -> str:
    return reverse("rx_verify", args=[rx.number]) + "?" + urlencode({"h": rx.content_hash[:16]})


def _slip(request, rx_id: int):
    rx, role = selectors.prescription_for(request.user, rx_id)
    if not rx.is_signed:
        raise NotFound()
    return slip_for(rx, request.build_absolute_uri(verify_path(rx))), rx, role


@require_GET
@login_required
def slip(request, rx_id: int):
    data, rx, role = _slip(request, rx_id)
    # segno's own SVG of our own address: no user input in it.
    qr_svg = mark_safe(data.qr_svg())  # noqa: S308
    return render(request, "prescriptions/slip.html", {"slip": data, "rx": rx, "role": role, "qr_svg": qr_svg})


@require_GET
@login_required
def slip_pdf(request, rx_id: int):
    data, rx, _role = _slip(request, rx_id)
    response = HttpResponse(render_pdf(data), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{rx.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@never_cache
@require_GET
def verify(request, number: str):
    result = services.verify_slip(number=number[:32], fingerprint=request.GET.get("h", "")[:64])
    response = render(request, "prescriptions/verify.html", {"result": result, "number": number[:32]},
                      status=200 if result.get("number") else 404)
    response["X-Robots-Tag"] = "noindex"
    return response
