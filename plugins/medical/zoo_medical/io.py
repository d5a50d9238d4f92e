"""NIfTI files and DICOM series in, as one Volume type with spacing and orientation.

A Volume's data is indexed by voxel (i, j, k) and its `affine` maps (i, j, k, 1)
to millimetres in RAS+ world space, NIfTI's convention, which nibabel and most
tools share. DICOM stores LPS+ positions per slice; `read_dicom_series` sorts
the slices along their normal, checks they are evenly spaced, and builds the
same kind of affine (i along a row, j down the columns, k across slices), so
the two formats of one scan give the same Volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Volume:
    """A 3D scan: `data` (I, J, K) float32, `affine` (4, 4) float64 voxel -> RAS+ mm."""

    data: torch.Tensor
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Millimetres between neighbouring voxels along i, j and k."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def orientation(self) -> str:
        """The world direction each voxel axis points to most, e.g. "RAS" or "LPS" (nibabel's aff2axcodes)."""
        codes = []
        for axis in self.affine[:3, :3].T:
            world = int(np.argmax(np.abs(axis)))
            codes.append(("R", "A", "S")[world] if axis[world] > 0 else ("L", "P", "I")[world])
        return "".join(codes)

    def as_batch(self) -> torch.Tensor:
        """(1, 1, I, J, K): the layout the segmentation models take."""
        return self.data[None, None]


def read_nifti(path: str | Path) -> Volume:
    """A .nii or .nii.gz volume with its affine (the sform, else the qform, as nibabel chooses)."""
    try:
        import nibabel
    except ImportError:
        raise ImportError("reading NIfTI needs nibabel: pip install 'zoo-medical[io]'") from None
    image = nibabel.load(str(path))
    data = np.asarray(image.get_fdata(dtype=np.float32))
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"argument 'path': {str(path)!r} holds a {data.ndim}-D image of shape {data.shape}; "
                         f"a 3-D volume was expected")
    return Volume(torch.from_numpy(np.ascontiguousarray(data)), np.asarray(image.affine, dtype=np.float64))


def _dicom_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        source = Path(source)
        if not source.is_dir():
            raise ValueError(f"argument 'source': {str(source)!r} is not a directory of DICOM files")
        return sorted(p for p in source.iterdir() if p.is_file())
    return [Path(p) for p in source]


def read_dicom_series(source: str | Path | Iterable[str | Path], series_uid: str | None = None) -> Volume:
    """One DICOM series (a directory or a list of files) as a Volume, slices in spatial order.

    Files without pixel data are skipped; a directory holding several series
    needs `series_uid`. Pixel values are rescaled by RescaleSlope/Intercept
    (Hounsfield units for CT). Unevenly spaced or missing slices are an error.
    """
    try:
        import pydicom
    except ImportError:
        raise ImportError("reading DICOM needs pydicom: pip install 'zoo-medical[io]'") from None
    slices = [ds for ds in (pydicom.dcmread(p) for p in _dicom_files(source)) if "PixelData" in ds]
    series = {str(ds.SeriesInstanceUID) for ds in slices}
    if series_uid is not None:
        slices = [ds for ds in slices if str(ds.SeriesInstanceUID) == series_uid]
    elif len(series) > 1:
        raise ValueError(f"argument 'source' holds {len(series)} series ({', '.join(sorted(series))}); "
                         f"pass series_uid to pick one")
    if len(slices) < 2:
        raise ValueError(f"argument 'source': a DICOM series needs at least 2 slices with pixel data, "
                         f"found {len(slices)}")
    cosines = np.array(slices[0].ImageOrientationPatient, dtype=np.float64)
    row, column = cosines[:3], cosines[3:]  # directions of increasing column index and of increasing row index
    normal = np.cross(row, column)
    positions = np.array([ds.ImagePositionPatient for ds in slices], dtype=np.float64)
    order = np.argsort(positions @ normal)
    slices, positions = [slices[i] for i in order], positions[order]
    gaps = np.diff(positions @ normal)
    if not np.allclose(gaps, gaps.mean(), rtol=1e-3, atol=1e-3) or gaps.mean() <= 0:
        raise ValueError(f"argument 'source': slices are not evenly spaced (gaps {np.round(gaps, 3).tolist()} mm); "
                         f"missing or duplicate slices?")
    row_spacing, column_spacing = (float(v) for v in slices[0].PixelSpacing)
    pixels = np.stack([ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1))
                       + float(getattr(ds, "RescaleIntercept", 0)) for ds in slices])  # (k, rows, columns)
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = row * column_spacing, column * row_spacing, normal * gaps.mean()
    affine[:3, 3] = positions[0]
    data = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 1, 0)))  # (i = column, j = row, k = slice)
    return Volume(data, LPS_TO_RAS @ affine)
