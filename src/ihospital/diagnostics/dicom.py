"""Reading, checking and rendering DICOM images (no database here).

``read(file_bytes)`` parses a DICOM Part 10 file (a file without the "DICM" preamble is refused, as is anything
truncated or unreadable) and returns the facts the upload checks need. ``render(dataset, ...)`` turns the first
frame into a PNG preview with the standard grayscale pipeline (PS3.3 C.11): the Modality LUT (Rescale Slope and
Intercept), the VOI window (the one asked for, else the file's first Window Center/Width, else the pixel range),
MONOCHROME1 inverted, colour images passed through; then it is shrunk (keeping its aspect ratio) to ``size``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import date

import numpy as np
import pydicom
from django.utils.translation import gettext_lazy as _
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from ihospital.core.errors import DomainError

# What an upload needs to be matched to an order and shown.
REQUIRED = ("PatientID", "PatientName", "PatientBirthDate", "StudyInstanceUID", "SeriesInstanceUID",
            "SOPInstanceUID", "Modality", "Rows", "Columns", "PixelData")
MIN_SIZE, MAX_SIZE = 16, 2048
# Larger than any radiograph (a 43 x 43 cm detector at 0.1 mm is 18 million pixels): refused before decoding.
MAX_PIXELS = 64 * 1024 * 1024


@dataclass(frozen=True)
class DicomFacts:
    dataset: Dataset
    patient_id: str
    patient_name: PersonName
    birth_date: date | None
    sex: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    modality: str
    study_date: date | None
    instance_number: int
    rows: int
    columns: int
    window_center: float | None
    window_width: float | None
    transfer_syntax: str


def not_dicom() -> DomainError:
    return DomainError("not_dicom", _("This file is not a readable DICOM image."), fields={"file": _("not DICOM")})


def read(file_bytes: bytes) -> DicomFacts:
    """Parse and check a DICOM file; ``not_dicom``, ``dicom_incomplete`` or ``unsupported_transfer_syntax``."""
    if not file_bytes:
        raise not_dicom()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(io.BytesIO(file_bytes), force=False)
            cut = _cut_off(ds, len(file_bytes))
            for _element in ds.iterall():  # convert every value now: a damaged element fails here, not later
                pass
    except Exception:  # noqa: BLE001 - whatever arbitrary bytes make the parser raise, they are not DICOM
        raise not_dicom() from None
    # pydicom only warns when the file ends inside an element (and keeps none of the dataset): that is a cut file.
    if cut or any("end of file" in str(w.message).lower() for w in caught) or len(ds) == 0:
        raise not_dicom()
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if not syntax:
        raise not_dicom()
    missing = [name for name in REQUIRED if not _present(ds, name)]
    if missing:
        raise DomainError(
            "dicom_incomplete",
            _("The DICOM file lacks required attributes: %(names)s.") % {"names": ", ".join(missing)},
            fields={"file": ", ".join(missing)},
        )
    _check_syntax(syntax)
    if int(ds.Rows) * int(ds.Columns) > MAX_PIXELS or not int(ds.Rows) or not int(ds.Columns):
        raise DomainError("image_too_large", _("The image dimensions are out of range."),
                          fields={"file": _("image too large")})
    if not syntax.is_compressed and len(ds.PixelData) < _expected_bytes(ds):
        raise not_dicom()  # cut off inside the pixel data
    center, width = _file_window(ds)
    return DicomFacts(
        dataset=ds,
        patient_id=str(ds.PatientID).strip(),
        patient_name=ds.PatientName,
        birth_date=_date(ds.get("PatientBirthDate")),
        sex=str(ds.get("PatientSex", "") or "").strip(),
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        modality=str(ds.Modality).strip(),
        study_date=_date(ds.get("StudyDate")),
        instance_number=_int(ds.get("InstanceNumber")),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        window_center=center,
        window_width=width,
        transfer_syntax=str(syntax),
    )


def render(dataset: Dataset, *, center: float | None = None, width: float | None = None, size: int = 512) -> bytes:
    """A PNG of the (first) frame, at most ``size`` pixels on its longer side (``size`` is kept within 16-2048)."""
    if (center is None) != (width is None):
        raise _invalid_window()
    if width is not None and (not np.isfinite(width) or not np.isfinite(center) or width < 1):
        raise _invalid_window()
    size = max(MIN_SIZE, min(MAX_SIZE, int(size)))
    try:
        dataset.pixel_array_options(index=0)  # only the first frame is decoded (YBR colour comes out as RGB)
        pixels = dataset.pixel_array
    except Exception:  # noqa: BLE001 - any decoder failure means the file cannot be shown
        raise not_dicom() from None
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if samples == 3:
        image = Image.fromarray(_to_uint8_rgb(pixels, dataset))
    else:
        values = _modality_lut(pixels, dataset)
        if center is None:
            center, width = _file_window(dataset)
        out = _window(values, center, width) if center is not None else _stretch(values)
        if photometric == "MONOCHROME1":
            out = 255 - out
        image = Image.fromarray(out)
    if max(image.size) > size:
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ---- helpers ---------------------------------------------------------------------------------------------------


def _cut_off(ds: Dataset, size: int) -> bool:
    """Whether the file stops inside an element. pydicom reads a short last value, or ignores a partial element
    header at the end, without complaint; so check each raw element's bytes against its declared length, and that
    the last one ends where the file does."""
    last_end = None
    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        length, tell = getattr(raw, "length", None), getattr(raw, "value_tell", None)
        if length == 0xFFFFFFFF:
            last_end = None
            continue
        if length is None or tell is None:
            continue  # already converted by pydicom (the character set): its end is not known
        value = raw.value
        if isinstance(value, bytes | bytearray) and len(value) < length:
            return True
        last_end = tell + length
    return last_end is not None and last_end != size


def _present(ds: Dataset, name: str) -> bool:
    if name not in ds:
        return False
    value = ds[name].value
    return value is not None and str(value).strip() != "" if name != "PixelData" else bool(value)


def _check_syntax(syntax) -> None:
    if not syntax.is_compressed:
        return
    try:
        from pydicom.pixels import get_decoder

        available = get_decoder(syntax).is_available
    except (NotImplementedError, ValueError, KeyError):
        available = False
    if not available:
        raise DomainError(
            "unsupported_transfer_syntax",
            _("This DICOM compression (%(syntax)s) cannot be read here; send it uncompressed.")
            % {"syntax": getattr(syntax, "name", str(syntax))},
            fields={"file": _("unsupported compression")},
        )


def _expected_bytes(ds: Dataset) -> int:
    bits = int(ds.get("BitsAllocated", 8) or 8)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return (int(ds.Rows) * int(ds.Columns) * samples * frames * bits + 7) // 8


def _first(value) -> float | None:
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _file_window(ds: Dataset) -> tuple[float | None, float | None]:
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width < 1:
        return None, None
    return center, width


def _date(value) -> date | None:
    text = str(value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _modality_lut(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    slope = _first(ds.get("RescaleSlope"))
    intercept = _first(ds.get("RescaleIntercept"))
    values = pixels.astype(np.float64)
    return values * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)


def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    if width == 1:
        out = np.where(values <= low, 0.0, 255.0)
    else:
        out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
        out = np.where(values <= low, 0.0, np.where(values > high, 255.0, out))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _stretch(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip(np.rint((values - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)


def _to_uint8_rgb(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    bits = int(ds.get("BitsStored", 8) or 8)
    scaled = pixels.astype(np.float64) / float((1 << bits) - 1) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _invalid_window() -> DomainError:
    return DomainError("invalid_window", _("The window width must be at least 1 and the center a number."),
                       fields={"width": _("invalid")})
