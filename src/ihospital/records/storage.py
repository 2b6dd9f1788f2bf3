"""Private file storage for chart documents.

Files are kept under ``PRIVATE_STORAGE_ROOT`` (outside static and media roots) with random names. The type is
decided from the bytes, not from the name or the browser's claim, and only types a chart needs are kept: a
file that is really HTML or a script is refused whatever it is called.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import filetype
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

ALLOWED_TYPES = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "application/dicom": "dcm",
}


@dataclass(frozen=True)
class StoredFile:
    storage_name: str
    content_type: str
    size: int
    sha256: str


def root() -> Path:
    path = Path(settings.PRIVATE_STORAGE_ROOT) / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store(uploaded) -> StoredFile:
    """Check and save an uploaded file (Django ``UploadedFile`` or any object with ``chunks()``/``read()``)."""
    size = getattr(uploaded, "size", None)
    if size is not None and size > settings.DOCUMENT_MAX_BYTES:
        raise _too_big()
    head = uploaded.read(8192)
    uploaded.seek(0)
    kind = filetype.guess(head)
    if size == 0 or not head:
        raise DomainError("empty_file", _("The file is empty."), fields={"file": _("empty")})
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise DomainError(
            "unsupported_file_type",
            _("Only PDF, JPEG, PNG, WebP, HEIC photos and DICOM images can be uploaded."),
            fields={"file": _("file type not accepted")},
        )
    storage_name = f"{uuid.uuid4().hex}.{ALLOWED_TYPES[kind.mime]}"
    target = root() / storage_name
    digest = hashlib.sha256()
    written = 0
    try:
        with target.open("xb") as fh:
            for chunk in uploaded.chunks():
                written += len(chunk)
                if written > settings.DOCUMENT_MAX_BYTES:
                    raise _too_big()
                digest.update(chunk)
                fh.write(chunk)
    except DomainError:
        target.unlink(missing_ok=True)
        raise
    return StoredFile(storage_name, kind.mime, written, digest.hexdigest())


def path_of(storage_name: str) -> Path:
    path = (root() / storage_name).resolve()
    if path.parent != root().resolve():
        raise DomainError("not_found", _("Not found."), status=404)
    return path


def discard(storage_name: str) -> None:
    """Remove a file whose database row was never committed (the upload failed after it was written)."""
    path_of(storage_name).unlink(missing_ok=True)


def _too_big() -> DomainError:
    mb = settings.DOCUMENT_MAX_BYTES // (1024 * 1024)
    return DomainError(
        "file_too_large", _("The file is larger than %(mb)d MB.") % {"mb": mb}, fields={"file": _("too large")}
    )
