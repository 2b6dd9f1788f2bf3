"""Private storage of DICOM files, beside the chart documents (``records.storage``) under ``PRIVATE_STORAGE_ROOT``
in a sibling ``dicom/`` directory: random names, never served directly, a SHA-256 kept with each row.

A separate directory because DICOM files are checked by ``diagnostics.dicom`` (not by guessing the type) and may be
larger than a chart document (``DICOM_MAX_BYTES``).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError, NotFound


def max_bytes() -> int:
    return max(settings.DOCUMENT_MAX_BYTES, getattr(settings, "DICOM_MAX_BYTES", 100 * 1024 * 1024))


def root() -> Path:
    path = Path(settings.PRIVATE_STORAGE_ROOT) / "dicom"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_upload(uploaded) -> bytes:
    """The bytes of an uploaded file (``UploadedFile``, or anything with ``chunks()`` or ``read()``), refused
    (``empty_file``/``file_too_large``) before more than the limit is read."""
    limit = max_bytes()
    size = getattr(uploaded, "size", None)
    if size is not None and size > limit:
        raise too_big()
    parts, total = [], 0
    chunks = uploaded.chunks() if hasattr(uploaded, "chunks") else iter(lambda: uploaded.read(1 << 20), b"")
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise too_big()
        parts.append(chunk)
    data = b"".join(parts)
    if not data:
        raise DomainError("empty_file", _("The file is empty."), fields={"file": _("empty")})
    return data


def save(data: bytes) -> tuple[str, str]:
    """Write the bytes under a new random name; return ``(storage_name, sha256)``."""
    storage_name = f"{uuid.uuid4().hex}.dcm"
    with (root() / storage_name).open("xb") as fh:
        fh.write(data)
    return storage_name, hashlib.sha256(data).hexdigest()


def path_of(storage_name: str) -> Path:
    path = (root() / storage_name).resolve()
    if path.parent != root().resolve():
        raise NotFound()
    return path


def load(storage_name: str, sha256: str = "") -> bytes:
    """The stored bytes; 404 if the file is gone, and refused if they no longer match their recorded hash."""
    try:
        data = path_of(storage_name).read_bytes()
    except FileNotFoundError:
        raise NotFound() from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise DomainError("file_corrupted", _("The stored image does not match its checksum."), status=500)
    return data


def discard(storage_name: str) -> None:
    """Remove a file whose database row was never committed."""
    path_of(storage_name).unlink(missing_ok=True)


def too_big() -> DomainError:
    mb = max_bytes() // (1024 * 1024)
    return DomainError(
        "file_too_large", _("The file is larger than %(mb)d MB.") % {"mb": mb}, fields={"file": _("too large")}
    )
