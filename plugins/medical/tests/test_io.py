"""NIfTI and DICOM in: files written by nibabel and pydicom in the test are read back with their voxels,
spacing and orientation, and the two formats of one scan give the same Volume."""

import numpy as np
import pytest
import torch

from zoo_medical.io import read_dicom_series, read_nifti

nibabel = pytest.importorskip("nibabel", reason="the NIfTI tests need nibabel (zoo-medical[test])")

# Integer multiples of the slope plus the intercept: exactly what 16-bit DICOM pixels can store.
SCAN = (np.random.default_rng(1).integers(0, 3000, size=(6, 5, 4)) * 0.5 - 1024).astype(np.float32)


def test_nifti_voxels_affine_spacing_and_orientation(tmp_path):
    affine = np.array([[-0.8, 0, 0, 90], [0, 0.9, 0, -120], [0, 0, 2.5, -60], [0, 0, 0, 1]])
    nibabel.save(nibabel.Nifti1Image(SCAN, affine), tmp_path / "scan.nii.gz")
    volume = read_nifti(tmp_path / "scan.nii.gz")
    assert torch.equal(volume.data, torch.from_numpy(SCAN))
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)
    assert volume.spacing == pytest.approx((0.8, 0.9, 2.5))
    assert volume.orientation == "LAS" == "".join(nibabel.aff2axcodes(affine))
    assert volume.as_batch().shape == (1, 1, 6, 5, 4)
    nibabel.save(nibabel.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), tmp_path / "4d.nii")
    with pytest.raises(ValueError, match="4-D image"):
        read_nifti(tmp_path / "4d.nii")


def test_axial_dicom_series_is_the_same_scan_as_its_nifti(tmp_path, write_dicom_series):
    """Axial slices (rows along +x, columns along +y in LPS): DICOM's classic 'LPS' voxel orientation."""
    spacing, origin = (0.7, 0.8, 3.0), np.array([-100.0, -120.0, 40.0])
    write_dicom_series(tmp_path / "axial", SCAN, (1, 0, 0), (0, 1, 0), spacing, origin)
    volume = read_dicom_series(tmp_path / "axial")
    assert torch.equal(volume.data, torch.from_numpy(SCAN))
    ras = np.array([[-0.7, 0, 0, 100], [0, -0.8, 0, 120], [0, 0, 3.0, 40], [0, 0, 0, 1]])  # LPS flipped by hand
    np.testing.assert_allclose(volume.affine, ras, atol=1e-6)
    assert volume.spacing == pytest.approx(spacing) and volume.orientation == "LPS"
    nibabel.save(nibabel.Nifti1Image(SCAN, ras), tmp_path / "axial.nii")
    from_nifti = read_nifti(tmp_path / "axial.nii")
    assert torch.equal(from_nifti.data, volume.data)
    np.testing.assert_allclose(from_nifti.affine, volume.affine, atol=1e-5)


def test_sagittal_dicom_orientation_agrees_with_nibabel(tmp_path, write_dicom_series):
    write_dicom_series(tmp_path / "sagittal", SCAN, (0, 1, 0), (0, 0, -1), (1.0, 1.2, 1.5), np.zeros(3))
    volume = read_dicom_series(tmp_path / "sagittal")
    assert volume.orientation == "PIR" == "".join(nibabel.aff2axcodes(volume.affine))
    assert volume.spacing == pytest.approx((1.0, 1.2, 1.5))
    assert torch.equal(volume.data, torch.from_numpy(SCAN))


def test_dicom_series_problems_are_named(tmp_path, write_dicom_series):
    write_dicom_series(tmp_path / "gap", SCAN, (1, 0, 0), (0, 1, 0), (1, 1, 2), np.zeros(3), skip=(1,))
    with pytest.raises(ValueError, match="not evenly spaced"):
        read_dicom_series(tmp_path / "gap")
    first = write_dicom_series(tmp_path / "two", SCAN, (1, 0, 0), (0, 1, 0), (1, 1, 2), np.zeros(3))
    write_dicom_series(tmp_path / "two", SCAN[:, :, :2], (1, 0, 0), (0, 1, 0), (1, 1, 2), np.zeros(3))
    with pytest.raises(ValueError, match="holds 2 series"):
        read_dicom_series(tmp_path / "two")
    assert torch.equal(read_dicom_series(tmp_path / "two", series_uid=first).data, torch.from_numpy(SCAN))
    with pytest.raises(ValueError, match="not a directory"):
        read_dicom_series(tmp_path / "missing")
