"""`zoo train unet3d` reaches Dice >= 0.9 on held-out synthetic volumes; its checkpoint then segments a larger
scan, written as NIfTI by nibabel and as a DICOM series by pydicom, read back and run by sliding window."""

import json

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main
from zoo_medical.inference import sliding_window_inference
from zoo_medical.io import read_dicom_series, read_nifti
from zoo_medical.metrics import dice, hausdorff
from zoo_medical.recipe import synthetic_volume

nibabel = pytest.importorskip("nibabel", reason="the NIfTI tests need nibabel (zoo-medical[test])")


def test_recipe_reaches_dice_09_and_segments_nifti_and_dicom_scans(tmp_path, capsys, write_dicom_series):
    path = tmp_path / "unet3d.safetensors"
    assert main(["train", "unet3d", "--output", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index('{\n  "name"'):])["metrics"]
    assert metrics["test_dice"] >= 0.9
    model = zoo.load(str(path))

    image, label = synthetic_volume(torch.Generator().manual_seed(123), size=48)  # larger than training's 32^3
    scan = image[0].numpy()
    affine = np.diag([-1.5, -1.5, 2.0, 1.0])
    nibabel.save(nibabel.Nifti1Image(scan, affine), tmp_path / "scan.nii.gz")
    write_dicom_series(tmp_path / "dicom", scan, (1, 0, 0), (0, 1, 0), (1.5, 1.5, 2.0), np.zeros(3),
                       slope=0.001, intercept=0.0)
    for volume in (read_nifti(tmp_path / "scan.nii.gz"), read_dicom_series(tmp_path / "dicom")):
        assert volume.spacing == pytest.approx((1.5, 1.5, 2.0))
        logits = sliding_window_inference(volume.as_batch(), (32, 32, 32), model, overlap=0.5)
        segmentation = logits.argmax(1)[0]
        assert dice(segmentation, label) >= 0.9
        assert hausdorff(segmentation, label, spacing=volume.spacing, percentile=95) <= 2 * max(volume.spacing)
