"""Synthetic DICOM files for the imaging tests, written with pydicom to bytes (Explicit VR Little Endian).

* ``ct()``: 16-bit signed CT with Rescale Slope/Intercept and a window; each row is a ramp of stored values
  ``0 .. columns-1`` scaled by ``step`` (HU = stored - 1024 by default);
* ``xray()``: a MONOCHROME1 12-bit X-ray (DX), a left-to-right ramp;
* ``ultrasound()``: an 8-bit RGB ultrasound frame (US), red/green/blue bands.
"""

from __future__ import annotations

import io
from datetime import date

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def _base(sop_class: str, *, modality: str, patient_id: str, patient_name: str, birth_date: date | str | None,
          sex: str, study_uid: str | None, series_uid: str | None, sop_uid: str | None,
          study_date: str = "20261120", transfer_syntax: str = ExplicitVRLittleEndian) -> FileDataset:
    sop_uid = sop_uid or generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    ds = FileDataset(None, Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, so a Chinese name can be written
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.StudyDate = study_date
    ds.InstanceNumber = 1
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    if birth_date is not None:
        ds.PatientBirthDate = birth_date.strftime("%Y%m%d") if isinstance(birth_date, date) else birth_date
    ds.PatientSex = sex
    return ds


def _pixels(ds: FileDataset, array: np.ndarray, *, bits: int, signed: bool, photometric: str) -> None:
    ds.Rows, ds.Columns = array.shape[:2]
    ds.SamplesPerPixel = 3 if array.ndim == 3 else 1
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(array).tobytes()


def to_bytes(ds: FileDataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct(*, patient_id: str = "P0000001", patient_name: str = "LI^JIANHUA", birth_date: date | str | None = date(
        1970, 1, 2), sex: str = "M", study_uid: str | None = None, series_uid: str | None = None,
        sop_uid: str | None = None, modality: str = "CT", rows: int = 4, columns: int = 256, step: int = 8,
        slope: float = 1.0, intercept: float = -1024.0, center: float | list | None = 40.0,
        width: float | list | None = 400.0) -> FileDataset:
    """Each row holds stored values ``0, step, 2*step, ...`` (int16)."""
    ds = _base(CTImageStorage, modality=modality, patient_id=patient_id, patient_name=patient_name,
               birth_date=birth_date, sex=sex, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    ramp = (np.arange(columns, dtype=np.int16) * step).astype(np.int16)
    _pixels(ds, np.tile(ramp, (rows, 1)), bits=16, signed=True, photometric="MONOCHROME2")
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.RescaleType = "HU"
    if center is not None:
        ds.WindowCenter = center
    if width is not None:
        ds.WindowWidth = width
    return ds


def xray(*, patient_id: str = "P0000001", patient_name: str = "LI^JIANHUA", birth_date: date | str | None = date(
        1970, 1, 2), sex: str = "M", study_uid: str | None = None, series_uid: str | None = None,
        sop_uid: str | None = None, modality: str = "DX", rows: int = 4, columns: int = 256) -> FileDataset:
    """MONOCHROME1 (0 is white), 12 bits stored, a ramp ``0, 16, ..., 4080``, no window in the file."""
    ds = _base(DX_IMAGE_STORAGE, modality=modality, patient_id=patient_id, patient_name=patient_name,
               birth_date=birth_date, sex=sex, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    ramp = (np.arange(columns, dtype=np.uint16) * (4096 // columns)).astype(np.uint16)
    _pixels(ds, np.tile(ramp, (rows, 1)), bits=12, signed=False, photometric="MONOCHROME1")
    return ds


def ultrasound(*, patient_id: str = "P0000001", patient_name: str = "LI^JIANHUA",
               birth_date: date | str | None = date(1970, 1, 2), sex: str = "M", study_uid: str | None = None,
               series_uid: str | None = None, sop_uid: str | None = None, modality: str = "US", rows: int = 30,
               columns: int = 40) -> FileDataset:
    """Three horizontal bands: pure red, pure green, pure blue."""
    ds = _base(UltrasoundImageStorage, modality=modality, patient_id=patient_id, patient_name=patient_name,
               birth_date=birth_date, sex=sex, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    rgb = np.zeros((rows, columns, 3), dtype=np.uint8)
    third = rows // 3
    rgb[:third, :, 0] = 255
    rgb[third:2 * third, :, 1] = 255
    rgb[2 * third:, :, 2] = 255
    _pixels(ds, rgb, bits=8, signed=False, photometric="RGB")
    return ds
