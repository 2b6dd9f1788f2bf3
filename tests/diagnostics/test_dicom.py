"""Reading, checking and rendering DICOM files (no database)."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.datadict import keyword_for_tag
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import generate_uid

from ihospital.core.errors import DomainError
from ihospital.diagnostics import dicom

from . import dicomgen


def _png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _code(data: bytes) -> str:
    with pytest.raises(DomainError) as caught:
        dicom.read(data)
    return caught.value.code


# ---- read ------------------------------------------------------------------------------------------------------


def test_read_ct_facts():
    ds = dicomgen.ct(patient_id="P1234567", patient_name="LI^JIANHUA=李^建华", birth_date=date(1980, 5, 6),
                     sex="F", center=[40, 400], width=[400, 2000])
    facts = dicom.read(dicomgen.to_bytes(ds))
    assert facts.patient_id == "P1234567"
    assert facts.patient_name.ideographic == "李^建华"
    assert facts.birth_date == date(1980, 5, 6)
    assert facts.sex == "F"
    assert facts.modality == "CT"
    assert facts.study_uid == ds.StudyInstanceUID and facts.series_uid == ds.SeriesInstanceUID
    assert facts.sop_instance_uid == ds.SOPInstanceUID
    assert facts.study_date == date(2026, 11, 20)
    assert (facts.rows, facts.columns) == (4, 256)
    assert (facts.window_center, facts.window_width) == (40.0, 400.0)  # the first of several windows
    assert facts.transfer_syntax == "1.2.840.10008.1.2.1"


def test_read_xray_and_ultrasound():
    xray = dicom.read(dicomgen.to_bytes(dicomgen.xray()))
    assert xray.modality == "DX"
    assert xray.dataset.PhotometricInterpretation == "MONOCHROME1"
    assert (xray.window_center, xray.window_width) == (None, None)
    us = dicom.read(dicomgen.to_bytes(dicomgen.ultrasound()))
    assert us.modality == "US"
    assert (us.rows, us.columns) == (30, 40)
    assert us.dataset.SamplesPerPixel == 3


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("data", [
    pytest.param(_pdf(), id="pdf"),
    pytest.param(_jpeg(), id="jpeg"),
    pytest.param(bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)), id="random"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\0" * 128 + b"DICM", id="preamble-only"),
])
def test_non_dicom_refused(data):
    assert _code(data) == "not_dicom"


def _positions(data: bytes) -> dict[str, tuple[int, int]]:
    """Where each element's value starts in the file, and its length."""
    ds = pydicom.dcmread(io.BytesIO(data))
    raw = {tag: ds.get_item(tag) for tag in list(ds.keys())}
    return {keyword_for_tag(tag): (item.value_tell, item.length) for tag, item in raw.items()
            if hasattr(item, "value_tell")}


@pytest.mark.parametrize(("where", "element", "offset"), [
    ("in the file meta", None, 140),
    ("inside a UID", "SOPInstanceUID", 10),
    ("inside the name", "PatientName", 3),
    ("inside an element header", "PatientID", -5),
    ("inside the pixel data", "PixelData", 1024),
    ("one byte short", "PixelData", 2047),
])
def test_truncated_dicom_refused(where, element, offset):
    data = dicomgen.to_bytes(dicomgen.ct())
    cut = offset if element is None else _positions(data)[element][0] + offset
    assert _code(data[:cut]) == "not_dicom", where


def test_every_cut_is_refused():
    """Cut anywhere, the file is refused; a cut exactly between two elements reads as an incomplete file."""
    data = dicomgen.to_bytes(dicomgen.ct())
    codes = set()
    for cut in range(0, len(data), 7):
        codes.add(_code(data[:cut]))
    assert codes <= {"not_dicom", "dicom_incomplete"}


def test_dicom_without_file_meta_preamble_is_refused():
    """``force=False``: a raw dataset without the Part 10 header is not accepted."""
    data = dicomgen.to_bytes(dicomgen.ct())
    assert _code(data[132:]) == "not_dicom"


def test_missing_attributes_are_named():
    ds = dicomgen.ct()
    del ds.PatientID
    del ds.StudyInstanceUID
    ds.PatientName = ""
    with pytest.raises(DomainError) as caught:
        dicom.read(dicomgen.to_bytes(ds))
    assert caught.value.code == "dicom_incomplete"
    message = str(caught.value.message)
    assert "PatientID" in message and "StudyInstanceUID" in message and "PatientName" in message
    assert "Modality" not in message


def test_missing_pixels_are_incomplete():
    ds = dicomgen.ct()
    del ds.PixelData
    with pytest.raises(DomainError) as caught:
        dicom.read(dicomgen.to_bytes(ds))
    assert caught.value.code == "dicom_incomplete"
    assert "PixelData" in str(caught.value.message)


def test_undecodable_compression_refused():
    ds = dicomgen.ct()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder here
    ds.PixelData = encapsulate([b"\0" * 64])
    ds["PixelData"].VR = "OB"
    with pytest.raises(DomainError) as caught:
        dicom.read(dicomgen.to_bytes(ds))
    assert caught.value.code == "unsupported_transfer_syntax"


# ---- render ----------------------------------------------------------------------------------------------------


def _gray(ds, **kw) -> np.ndarray:
    image = _png(dicom.render(ds, **kw))
    assert image.mode == "L"
    return np.asarray(image)


def test_render_uses_the_file_window():
    """Ramp: stored 0, 8, 16, ... -> HU -1024, -1016, ...; column c has HU 8c - 1024.

    File window C=40 W=400: below HU -160 is black, above 239 white, linear in between
    (((HU - 39.5) / 399 + 0.5) * 255, rounded)."""
    ds = dicomgen.ct()
    out = _gray(ds)
    assert out.shape == (4, 256)
    assert out[0, 0] == 0  # HU -1024
    assert out[0, 108] == 0  # HU -160, at the lower edge
    assert out[0, 133] == 128  # HU 40: ((0.5 / 399) + 0.5) * 255 = 127.8
    assert out[0, 120] == round(((-64 - 39.5) / 399 + 0.5) * 255)  # HU -64 -> 61
    assert out[0, 158] == 255  # HU 240, above the upper edge
    assert out[0, 255] == 255
    assert (np.diff(out[0].astype(int)) >= 0).all()


def test_render_window_given_overrides_the_file():
    ds = dicomgen.ct()
    lung = _gray(ds, center=-600, width=1500)
    # C=-600 W=1500: lower edge -1350, upper 149; HU -1024 -> ((-1024 + 600.5) / 1499 + 0.5) * 255
    assert lung[0, 0] == round(((-1024 + 600.5) / 1499 + 0.5) * 255) == 55
    assert lung[0, 109] == 204  # HU -152: (448.5 / 1499 + 0.5) * 255 = 203.8
    assert lung[0, 147] == 255  # HU 152, above the upper edge
    assert lung[0, 100] == round(((-224 + 600.5) / 1499 + 0.5) * 255)
    default = _gray(ds)
    assert lung[0, 0] != default[0, 0]


def test_render_without_a_window_uses_the_pixel_range():
    ds = dicomgen.ct(center=None, width=None)
    out = _gray(ds)
    assert out[0, 0] == 0
    assert out[0, 255] == 255
    assert out[0, 128] == round(128 / 255 * 255)


def test_render_applies_rescale_slope_and_intercept():
    """Slope 2, intercept -100: column c has value 16c - 100. Window C=0 W=2: below -1 black, above 0 white."""
    ds = dicomgen.ct(slope=2.0, intercept=-100.0, center=None, width=None)
    out = _gray(ds, center=0.5, width=2)  # edges at -0.5 and 0.5
    assert out[0, 6] == 0  # 16*6 - 100 = -4
    assert out[0, 7] == 255  # 12


def test_monochrome1_is_inverted():
    """X-ray ramp 0 .. 4080 with no window: min/max stretch, then inverted (0 is white in MONOCHROME1)."""
    out = _gray(dicomgen.xray())
    assert out[0, 0] == 255
    assert out[0, 255] == 0
    assert (np.diff(out[0].astype(int)) <= 0).all()
    windowed = _gray(dicomgen.xray(), center=2048, width=4096)
    assert windowed[0, 0] == 255 - round(((0 - 2047.5) / 4095 + 0.5) * 255)


def test_rgb_is_passed_through():
    image = _png(dicom.render(dicomgen.ultrasound()))
    assert image.mode == "RGB"
    assert image.size == (40, 30)
    rgb = np.asarray(image)
    assert tuple(rgb[0, 0]) == (255, 0, 0)
    assert tuple(rgb[15, 20]) == (0, 255, 0)
    assert tuple(rgb[29, 39]) == (0, 0, 255)


def test_ybr_colour_is_shown_as_rgb():
    ds = dicomgen.ultrasound()
    rgb = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(30, 40, 3)
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    rgb = np.asarray(_png(dicom.render(dicom.read(dicomgen.to_bytes(ds)).dataset)))
    assert np.abs(rgb[0, 0].astype(int) - (255, 0, 0)).max() <= 2
    assert np.abs(rgb[15, 20].astype(int) - (0, 255, 0)).max() <= 2


def test_multi_frame_shows_the_first_frame():
    ds = dicomgen.ct(rows=4, columns=8, center=None, width=None)
    frames = np.stack([np.arange(32, dtype=np.int16).reshape(4, 8) * (i + 1) for i in range(5)])
    ds.NumberOfFrames = 5
    ds.PixelData = frames.tobytes()
    facts = dicom.read(dicomgen.to_bytes(ds))
    out = _gray(facts.dataset)
    assert out.shape == (4, 8)
    assert out[0, 0] == 0 and out[3, 7] == 255
    assert out[0, 1] == round(1 / 31 * 255)  # frame 1's ramp 0..31, not a later frame's


def test_absurd_dimensions_refused():
    ds = dicomgen.ct()
    ds.Rows, ds.Columns = 65535, 65535
    with pytest.raises(DomainError) as caught:
        dicom.read(dicomgen.to_bytes(ds))
    assert caught.value.code == "image_too_large"


def test_render_shrinks_keeping_the_aspect_ratio():
    ds = dicomgen.ct(rows=300, columns=1200, step=1)
    image = _png(dicom.render(ds, size=256))
    assert image.size == (256, 64)
    small = _png(dicom.render(dicomgen.ultrasound(rows=600, columns=400), size=300))
    assert small.size == (200, 300)
    assert len(dicom.render(ds, size=100000)) < 2 * 1024 * 1024  # the size asked for is capped


@pytest.mark.parametrize(("center", "width"), [(40, 0), (40, -10), (40, 0.5), (float("nan"), 400), (40, None),
                                               (None, 400)])
def test_invalid_window_refused(center, width):
    with pytest.raises(DomainError) as caught:
        dicom.render(dicomgen.ct(), center=center, width=width)
    assert caught.value.code == "invalid_window"


def test_width_one_is_a_threshold():
    out = _gray(dicomgen.ct(), center=0, width=1)  # HU <= -0.5 black, else white
    assert out[0, 127] == 0  # HU -8
    assert out[0, 128] == 255  # HU 0


def test_uids_are_distinct_per_generated_file():
    a, b = dicomgen.ct(), dicomgen.ct()
    assert a.SOPInstanceUID != b.SOPInstanceUID
    uid = generate_uid()
    assert dicomgen.ct(study_uid=uid).StudyInstanceUID == uid
