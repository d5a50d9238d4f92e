"""A DICOM series writer for the tests: pydicom datasets made from scratch, one file per slice."""

import numpy as np
import pytest


@pytest.fixture
def write_dicom_series():
    pytest.importorskip("pydicom", reason="the DICOM tests need pydicom (zoo-medical[test])")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    def write(directory, data, row_cosine, column_cosine, spacing, origin, slope=0.5, intercept=-1024.0,
              series_uid=None, skip=()):
        """data (I, J, K): I along a row (row_cosine), J down the columns, K along their cross product; LPS mm."""
        directory.mkdir(parents=True, exist_ok=True)
        series_uid = series_uid or generate_uid()
        normal = np.cross(row_cosine, column_cosine)
        for k in np.random.default_rng(0).permutation(data.shape[2]):  # file order unrelated to position
            if k in skip:
                continue
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = generate_uid(), series_uid, "CT"
            ds.ImageOrientationPatient = [float(v) for v in (*row_cosine, *column_cosine)]
            ds.ImagePositionPatient = [float(v) for v in np.asarray(origin) + k * spacing[2] * normal]
            ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]  # between rows, between columns
            ds.Rows, ds.Columns = data.shape[1], data.shape[0]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
            stored = np.round((data[:, :, k].T - intercept) / slope).astype(np.int16)  # (rows, columns)
            ds.PixelData = stored.tobytes()
            ds.save_as(directory / f"slice_{k:03d}_{series_uid[-6:]}.dcm", enforce_file_format=True)
        return series_uid

    return write
