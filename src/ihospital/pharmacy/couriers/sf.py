"""SF Express (顺丰速运) through its open platform (顺丰开放平台 / 丰桥), standard API with digital-signature auth.

Every request is an HTTP POST, ``application/x-www-form-urlencoded;charset=UTF-8``, to ``SF_API_URL`` (production
``https://sfapi.sf-express.com/std/service`` or ``https://bspgw.sf-express.com/std/service``, sandbox
``https://sfapi-sbox.sf-express.com/std/service``) with the form fields

    partnerID    the customer code (顾客编码, ``SF_PARTNER_ID``)
    requestID    a unique id per request (UUID)
    serviceCode  EXP_RECE_CREATE_ORDER (下单) or EXP_RECE_UPDATE_ORDER (订单确认/取消, ``dealType`` 2 = cancel)
    timestamp    milliseconds since the epoch
    msgData      the business message, JSON
    msgDigest    Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))

where ``checkWord`` is the customer's check word (校验码, ``SF_CHECK_WORD``) and ``URLEncoder`` is Java's
(``application/x-www-form-urlencoded``: space → ``+``; letters, digits and ``.-*_`` kept; every other byte of the
UTF-8 text as upper-case ``%XX``). SF's signing guide ("数字签名认证说明") works the example
``{"language":"zh-CN","orderId":"QIAO-20200618-004"}`` + ``12312334453453`` + ``fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci``
→ ``IIKJtuLVzoFTu4kHI8M8vA==``; the tests check it.

The answer is JSON: ``apiResultCode`` ``A1000`` when the platform accepted the call (other ``A1xxx`` codes:
refused, e.g. ``A1006`` bad digest), and ``apiResultData``, itself a JSON text ``{"success", "errorCode",
"errorMsg", "msgData"}``; a created order's waybill number is ``msgData.waybillNoInfoList[0].waybillNo``.

Route pushes (路由推送) come to ``/pharmacy/courier/notify/sf/`` in the same envelope (form fields ``msgData``,
``timestamp``, ``msgDigest``, with ``partnerID``), ``msgData`` holding ``{"WaybillRoute": [...]}`` (also accepted
under ``{"Body": {...}}``), each route ``{"id", "mailno", "orderid", "acceptTime", "acceptAddress", "remark",
"opCode", "reasonName"?}``. The digest is verified with the check word; an unsigned or forged push is refused.
SF expects ``{"return_code": "0000", "return_msg": "成功"}`` back.

The HTTP transport is injectable (``SFExpressCourier(transport=...)`` or this module's ``post_form``): the tests use
a fake SF that checks each request's digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote_plus, urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from .base import BadSignature, Courier, CourierError, TrackingUpdate

NAME = "sf"
CREATE_ORDER = "EXP_RECE_CREATE_ORDER"
UPDATE_ORDER = "EXP_RECE_UPDATE_ORDER"
DEAL_TYPE_CANCEL = 2
API_OK = "A1000"
POST_TIMEOUT_SECONDS = 15
# SF's clock: route times are Beijing time without a zone.
SF_TIME_ZONE = ZoneInfo("Asia/Shanghai")

# Product (expressTypeId) per service: 2 顺丰标快; 201 冷运标快 (SF cold chain). Override with SF_EXPRESS_TYPES.
EXPRESS_TYPES = {"standard": 2, "cold_chain": 201}

# Route operation codes (opCode) → our tracking statuses. SF's full opCode table lives in the 丰桥 console, not in
# its public pages; this mapping is assembled from routes as SF pushes and returns them (EXP_RECE_SEARCH_ROUTES),
# with the remark SF sends beside each code, grouped the way SF's first-level statuses group them (101 收件,
# 201 运送中, 301 派件中, 401 已签收) plus the exception and return codes. Check it against your account's table.
# Codes not listed (internal scans, customs, …) are acknowledged and not stored.
OP_CODES = {
    "50": "picked_up",  # 顺丰速运 已收取快件 (collected)
    "54": "picked_up",  # 已收取快件 (collected; first-level status 101)
    "30": "in_transit",  # 快件在【…】完成分拣，准备发往【…】 (sorted)
    "31": "in_transit",  # 快件到达【…】 (arrived at a facility)
    "36": "in_transit",  # 快件离开【…】，已在发往【…】的路上 (departed)
    "105": "in_transit",  # first-level status 201 (in transit, line haul)
    "106": "in_transit",  # first-level status 201 (arrived in the destination city)
    "130": "in_transit",  # 已到达目的地网点，即将派件 (at the delivery station)
    "44": "out_for_delivery",  # 正在派送途中 (out for delivery; first-level status 301)
    "204": "out_for_delivery",  # first-level status 301 (being delivered)
    "80": "delivered",  # 已签收 (signed for; first-level status 401)
    "8000": "delivered",  # 已签收 (signed for)
    "70": "failed",  # 派送不成功 (a delivery attempt failed; reasonName says why)
    "33": "failed",  # 派件异常 (delivery exception)
    "99": "failed",  # exception / return
    "631": "failed",  # 快件已退回 (returned to the sender)
    "648": "failed",  # return
}

Transport = Callable[[str, dict[str, str]], str]


# ---- signing ---------------------------------------------------------------------------------------------------


def java_urlencode(text: str) -> str:
    """Java's ``URLEncoder.encode(text, "UTF-8")``: like ``quote_plus`` but ``*`` kept and ``~`` encoded."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    text = java_urlencode(msg_data + timestamp + check_word)
    return base64.b64encode(hashlib.md5(text.encode("utf-8")).digest()).decode("ascii")  # noqa: S324 - SF's scheme


def post_form(url: str, form: dict[str, str]) -> str:
    """POST the form to SF and answer the response body. A connection failure raises ``OSError``."""
    if not url.startswith("https://") and not url.startswith("http://"):
        raise OSError(f"not an HTTP address: {url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=urlencode(form).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.read(1_000_000).decode("utf-8")
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None


# ---- the courier ------------------------------------------------------------------------------------------------


class SFExpressCourier(Courier):
    name = NAME
    services = frozenset({"standard", "cold_chain"})

    def __init__(self, *, transport: Transport | None = None, partner_id: str | None = None,
                 check_word: str | None = None, url: str | None = None) -> None:
        self._transport = transport
        self.partner_id = settings.SF_PARTNER_ID if partner_id is None else partner_id
        self.check_word = settings.SF_CHECK_WORD if check_word is None else check_word
        self.url = url or settings.SF_API_URL

    # -- requests --

    def request_form(self, service_code: str, msg_data: dict, *, timestamp: str | None = None,
                     request_id: str | None = None) -> dict[str, str]:
        """The signed form of one call."""
        data = json.dumps(msg_data, ensure_ascii=False, separators=(",", ":"))
        timestamp = timestamp or str(int(time.time() * 1000))
        return {
            "partnerID": self.partner_id,
            "requestID": request_id or uuid.uuid4().hex,
            "serviceCode": service_code,
            "timestamp": timestamp,
            "msgData": data,
            "msgDigest": msg_digest(data, timestamp, self.check_word),
        }

    def call(self, service_code: str, msg_data: dict) -> dict:
        """Send one call; answer ``apiResultData.msgData``. Any refusal is a ``CourierError`` saying why."""
        if not (self.partner_id and self.check_word):
            raise CourierError("SF Express is not configured (SF_PARTNER_ID, SF_CHECK_WORD)")
        transport = self._transport or post_form
        try:
            raw = transport(self.url, self.request_form(service_code, msg_data))
        except OSError as exc:
            raise CourierError(f"SF Express could not be reached: {exc}") from None
        return parse_response(raw)

    def order_id(self, shipment) -> str:
        return f"{shipment.order.number}-{shipment.pk}"

    def create_order_data(self, shipment) -> dict:
        """EXP_RECE_CREATE_ORDER's msgData for a shipment: the pharmacy sends, the order's recipient receives.
        The cargo is declared as 药品 only: a waybill passes through many hands, so no drug names on it."""
        order = shipment.order
        sender = {"company": settings.HOSPITAL_NAME or "医院药房", "contact": "药房", "tel": "", "country": "CN",
                  "province": "", "city": "", "county": "", "address": ""}
        sender.update(getattr(settings, "SF_SENDER", None) or {})
        if not (sender["address"] and sender["tel"]):
            raise CourierError("the pharmacy's sender address and phone are not configured (SF_SENDER)")
        mobile = order.recipient_phone
        if mobile.startswith("+86"):  # stored in E.164; SF takes the domestic number
            mobile = mobile[3:]
        receiver = {"contactType": 2, "contact": order.recipient, "mobile": mobile, "country": "CN",
                    "address": order.delivery_address}
        if order.address_id:
            address = order.address
            receiver.update(province=address.province, city=address.city, county=address.district,
                            address=address.detail)
        if not (receiver["contact"] and receiver["mobile"] and receiver["address"]):
            raise CourierError("the order has no complete delivery address")
        express_types = {**EXPRESS_TYPES, **(getattr(settings, "SF_EXPRESS_TYPES", None) or {})}
        cold = shipment.service == "cold_chain"
        data = {
            "language": "zh-CN",
            "orderId": self.order_id(shipment),
            "cargoDetails": [{"name": "药品", "count": 1, "unit": "件"}],
            "contactInfoList": [{"contactType": 1, **sender}, receiver],
            "expressTypeId": express_types[shipment.service],
            "payMethod": 1,  # 寄方付: the hospital pays (the patient paid the delivery fee with the order)
            "parcelQty": 1,
            "isDocall": 1,  # ask for a courier to come to the pharmacy
            "isReturnRoutelabel": 1,
            "remark": "冷链药品，2–8°C 保存，请当面签收" if cold else "药品，请当面签收",
        }
        monthly_card = getattr(settings, "SF_MONTHLY_CARD", "")
        if monthly_card:
            data["monthlyCard"] = monthly_card
        return data

    def create_shipment(self, shipment) -> str:
        if shipment.service not in self.services:
            raise CourierError(f"SF Express does not offer {shipment.service!r} here")
        result = self.call(CREATE_ORDER, self.create_order_data(shipment))
        try:
            return str(result["waybillNoInfoList"][0]["waybillNo"])
        except (KeyError, IndexError, TypeError):
            raise CourierError("SF Express accepted the order but gave no waybill number") from None

    def cancel(self, shipment) -> None:
        self.call(UPDATE_ORDER, {"orderId": self.order_id(shipment), "dealType": DEAL_TYPE_CANCEL})

    # -- route pushes --

    def parse_callback(self, request) -> list[TrackingUpdate]:
        form = request.POST
        msg_data, timestamp, given = form.get("msgData", ""), form.get("timestamp", ""), form.get("msgDigest", "")
        if not (msg_data and timestamp and given and self.check_word):
            raise BadSignature("unsigned route push")
        if form.get("partnerID") not in (None, "", self.partner_id):
            raise BadSignature("route push for another customer code")
        if not hmac.compare_digest(msg_digest(msg_data, timestamp, self.check_word), given):
            raise BadSignature("msgDigest does not match")
        try:
            payload = json.loads(msg_data)
            routes = payload.get("WaybillRoute") or (payload.get("Body") or {}).get("WaybillRoute") or []
            return [update for route in routes if (update := route_update(route)) is not None]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CourierError(f"malformed route push: {exc}") from None

    def callback_response(self, *, status: int = 200, code: str = "", message: str = "") -> HttpResponse:
        """SF's push answer: ``return_code`` ``0000`` received; anything else makes SF push again later."""
        if status < 300:
            body = {"return_code": "0000", "return_msg": "成功"}
        else:
            body = {"return_code": "1000", "return_msg": f"{code}: {message}" if message else code}
        return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def parse_response(raw: str) -> dict:
    try:
        response = json.loads(raw)
    except ValueError:
        raise CourierError("SF Express answered something that is not JSON") from None
    if response.get("apiResultCode") != API_OK:
        raise CourierError(f"SF Express refused the call: {response.get('apiResultCode')} "
                           f"{response.get('apiErrorMsg') or ''}".strip())
    result = response.get("apiResultData") or {}
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            raise CourierError("SF Express answered an unreadable apiResultData") from None
    if not result.get("success"):
        raise CourierError(f"SF Express: {result.get('errorCode') or ''} {result.get('errorMsg') or ''}".strip())
    return result.get("msgData") or {}


def route_update(route: dict) -> TrackingUpdate | None:
    """One pushed route as a tracking update, or None for an operation code we do not track."""
    status = OP_CODES.get(str(route.get("opCode", "")))
    if status is None:
        return None
    occurred_at = datetime.strptime(route["acceptTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SF_TIME_ZONE)
    route_id = str(route.get("id") or "")
    if not route_id:  # no route id: the same scan always yields the same id
        route_id = hashlib.sha256(
            f"{route['mailno']}|{route['opCode']}|{route['acceptTime']}".encode()
        ).hexdigest()[:32]
    description = str(route.get("remark") or "")
    if status == "failed" and route.get("reasonName"):
        description = f"{description}（{route['reasonName']}）" if description else str(route["reasonName"])
    return TrackingUpdate(
        event_id=f"sf-{route_id}", tracking_no=str(route["mailno"]), status=status, occurred_at=occurred_at,
        location=str(route.get("acceptAddress") or ""), description=description,
    )
