import torch

from voxray.features.xray_augment import XrayFrontEnd
from voxray.models.backbone import create_backbone


def test_eval_is_a_deterministic_centre_crop_with_the_backbone_normalisation() -> None:
    fe = XrayFrontEnd(crop_size=56, crop_fraction=0.875, in_chans=1)
    fe.adapt_to(create_backbone("resnet18", 2, in_chans=1))
    assert torch.allclose(fe.mean.flatten(), torch.tensor([(0.485 + 0.456 + 0.406) / 3]))
    img = torch.zeros(2, 64, 64, dtype=torch.uint8)
    img[:, 32:, :] = 255  # bottom half white
    fe.eval()
    a, b = fe(img), fe(img)
    assert a.shape == (2, 1, 56, 56) and a.dtype == torch.float32 and torch.equal(a, b)
    white = (255 / 255 - fe.mean) / fe.std
    assert torch.allclose(a[0, 0, -1], white.flatten().expand(56), atol=1e-4)  # crop keeps bottom rows white


def test_training_augments_each_image_differently_and_keeps_range() -> None:
    fe = XrayFrontEnd(crop_size=48, in_chans=3, mean=[0.5], std=[0.25])
    img = torch.randint(0, 256, (1, 64, 64), dtype=torch.uint8).repeat(6, 1, 1)
    fe.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = fe(img)
    assert x.shape == (6, 3, 48, 48) and x.dtype == torch.float32
    assert not torch.allclose(x[0], x[1]) and torch.equal(x[:, 0], x[:, 2])
    assert x.min() >= (0 - 0.5) / 0.25 - 1e-5 and x.max() <= (1 - 0.5) / 0.25 + 1e-5
