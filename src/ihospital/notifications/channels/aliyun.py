"""Alibaba Cloud (Aliyun) RPC requests signed per signature version 1.0 (HMAC-SHA1), as SendSms of Dysmsapi
(version 2017-05-25) takes them.

1. Every parameter except ``Signature``, sorted by name; names and values percent-encoded in UTF-8 per RFC 3986
   (unreserved ``A-Z a-z 0-9 - _ . ~`` kept; space ``%20``, ``*`` ``%2A``, ``~`` kept), joined as ``k=v&k=v``.
2. StringToSign = ``METHOD & percent("/") & percent(canonical query)``.
3. Signature = Base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)); sent percent-encoded as a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from urllib.parse import quote


def percent(value: str) -> str:
    return quote(str(value), safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()) if k != "Signature")


def string_to_sign(params: dict[str, str], method: str = "GET") -> str:
    return f"{method}&{percent('/')}&{percent(canonical_query(params))}"


def signature(params: dict[str, str], access_key_secret: str, method: str = "GET") -> str:
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign(params, method).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(endpoint: str, params: dict[str, str], access_key_secret: str, method: str = "GET") -> str:
    sig = signature(params, access_key_secret, method)
    return f"{endpoint.rstrip('/')}/?Signature={percent(sig)}&{canonical_query(params)}"


def send_sms_params(*, access_key_id: str, phone_numbers: str, sign_name: str, template_code: str,
                    template_param: str, out_id: str = "", region_id: str = "cn-hangzhou",
                    timestamp: str | None = None, nonce: str | None = None, response_format: str = "JSON") -> dict:
    params = {
        "AccessKeyId": access_key_id,
        "Action": "SendSms",
        "Format": response_format,
        "PhoneNumbers": phone_numbers,
        "RegionId": region_id,
        "SignName": sign_name,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce or str(uuid.uuid4()),
        "SignatureVersion": "1.0",
        "TemplateCode": template_code,
        "TemplateParam": template_param,
        "Timestamp": timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": "2017-05-25",
    }
    if out_id:
        params["OutId"] = out_id
    return params
