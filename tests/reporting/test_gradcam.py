from functools import partial
from pathlib import Path

import matplotlib.image
import torch
from torch.utils.data import DataLoader, TensorDataset

from voxray.features.xray_augment import XrayFrontEnd
from voxray.models.backbone import create_backbone
from voxray.models.classifier import Classifier
from voxray.reporting.gradcam import write_gradcam


def test_gradcam_writes_an_overlay_per_sampled_case(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier(XrayFrontEnd(crop_size=48), partial(create_backbone, "resnet10t", in_chans=1),
                       ["normal", "pneumonia"], partial(torch.optim.AdamW), decision={"positive_class": "pneumonia",
                       "target_sensitivity": 0.95})
    images = torch.randint(0, 256, (12, 56, 56), dtype=torch.uint8)
    labels = torch.tensor([0, 1] * 6)
    with torch.inference_mode():
        scores = model.eval()(images).softmax(1)[:, 1]
    model.threshold.fill_(float(scores.median()))  # about half called positive: every group occurs
    dataset = TensorDataset(images, labels, torch.arange(12))  # (image, label, position), as ArrayDataset
    written = write_gradcam(model, DataLoader(dataset, batch_size=4), tmp_path, per_group=2)
    files = sorted((tmp_path / "gradcam").glob("*_0*.png"))
    assert sum(written.values()) == len(files) >= 4
    assert written["true_positive"] >= 1
    overlay = matplotlib.image.imread(files[0])
    assert overlay.shape[:2] == (48, 48) and overlay.std() > 0.02
    assert (tmp_path / "gradcam" / "overview.png").exists()


def test_gradcam_reads_gradients_of_a_frozen_backbone(tmp_path: Path) -> None:
    """After fine-tuning with a freeze schedule the backbone may not require gradients: the map
    must still come from the target layer's gradients (it raised before)."""
    torch.manual_seed(0)
    model = Classifier(XrayFrontEnd(crop_size=48), partial(create_backbone, "resnet10t", in_chans=1),
                       ["normal", "pneumonia"], partial(torch.optim.AdamW), decision={"positive_class": "pneumonia",
                       "target_sensitivity": 0.95})
    model.net.requires_grad_(False)
    images = torch.randint(0, 256, (6, 56, 56), dtype=torch.uint8)
    model.threshold.fill_(0.0)  # every film positive: the pneumonia films are true positives
    dataset = TensorDataset(images, torch.tensor([0, 1] * 3), torch.arange(6))
    written = write_gradcam(model, DataLoader(dataset, batch_size=3), tmp_path, per_group=2)
    assert written == {"true_positive": 2, "false_negative": 0, "false_positive": 2}
    overlay = matplotlib.image.imread(next((tmp_path / "gradcam").glob("true_positive_*.png")))
    assert overlay.std() > 0.02
