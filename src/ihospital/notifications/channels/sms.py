"""Text messages. settings.SMS_PROVIDER: "outbox" (embedded default: an OutboxMessage row, shown on the outbox
page) or "aliyun" (Alibaba Cloud SMS, ``SendSms`` signed per its RPC signature v1: ``aliyun.py``)."""

from __future__ import annotations

import json
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from django.conf import settings

from . import PermanentFailure, TemporaryFailure, aliyun, render

# Answers of SendSms worth another attempt later (flow control, the service busy); everything else is permanent.
ALIYUN_TEMPORARY_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY",
                          "Throttling", "Throttling.User", "ServiceUnavailable", "InternalError"}


def available(user) -> bool:
    return bool(getattr(user, "phone", ""))


def send(delivery) -> str:
    user = delivery.notification.user
    if not user.phone:
        raise PermanentFailure("no mobile number", status="skipped")
    message = render(delivery)
    provider = getattr(settings, "SMS_PROVIDER", "outbox")
    if provider == "outbox":
        from ..models import Channel, OutboxMessage

        row = OutboxMessage.objects.create(channel=Channel.SMS, to=user.phone, subject=message.subject,
                                           body=message.full_text)
        return f"outbox:{row.pk}"
    if provider == "aliyun":
        return send_aliyun(phone=user.phone, text=message.text, url=message.url, out_id=f"delivery-{delivery.pk}")
    raise PermanentFailure(f"unknown SMS provider {provider!r}")


def send_aliyun(*, phone: str, text: str, url: str, out_id: str = "") -> str:
    """One SendSms call; answers the BizId. The template (ALIYUN_SMS_TEMPLATE_CODE) carries ${event} and ${link}."""
    if not (settings.ALIYUN_SMS_ACCESS_KEY_ID and settings.ALIYUN_SMS_ACCESS_KEY_SECRET):
        raise PermanentFailure("Aliyun SMS is not configured")
    params = aliyun.send_sms_params(
        access_key_id=settings.ALIYUN_SMS_ACCESS_KEY_ID,
        phone_numbers=phone,
        sign_name=settings.ALIYUN_SMS_SIGN_NAME,
        template_code=settings.ALIYUN_SMS_TEMPLATE_CODE,
        template_param=json.dumps({"event": text, "link": url}, ensure_ascii=False, separators=(",", ":")),
        out_id=out_id,
    )
    request_url = aliyun.signed_url(settings.ALIYUN_SMS_ENDPOINT, params, settings.ALIYUN_SMS_ACCESS_KEY_SECRET)
    try:
        with urlopen(Request(request_url, method="GET"), timeout=10) as response:  # noqa: S310 - https endpoint
            answer = json.loads(response.read().decode("utf-8"))
    except HTTPError as exc:
        try:
            answer = json.loads(exc.read().decode("utf-8"))
        except ValueError:
            answer = {}
        if exc.code >= 500 or not answer:
            raise TemporaryFailure(f"Aliyun SMS HTTP {exc.code}") from exc
    except (URLError, OSError, ValueError) as exc:
        raise TemporaryFailure(f"Aliyun SMS unreachable: {exc}") from exc
    code = answer.get("Code", "")
    if code == "OK":
        return answer.get("BizId", "") or answer.get("RequestId", "")
    text = f"Aliyun SMS {code}: {answer.get('Message', '')}"
    if code in ALIYUN_TEMPORARY_CODES:
        raise TemporaryFailure(text)
    raise PermanentFailure(text)
