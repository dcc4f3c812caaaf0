import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.helpers.config import compose_cfg
from voxray.features.logmel import LogMel, VoiceFrontEnd
from voxray.features.periodicity import Periodicity
from voxray.models.backbone import create_backbone
from voxray.models.mel_cnn import MelCNN


# timm zero-initialises each residual block's last BN scale, so only MelCNN's grads are all non-zero
@pytest.mark.parametrize(
    "make, nonzero",
    [(lambda: MelCNN(5, channels=(8, 16, 32)), True), (lambda: MelCNN(5, channels=(8, 16, 32), head_rows=8), True),
     (lambda: create_backbone("resnet18", 5), False)],
)
def test_shapes_finite_and_every_parameter_gets_a_gradient(make, nonzero: bool) -> None:
    net = make()
    out = net(torch.randn(3, 1, 64, 151))
    assert out.shape == (3, 5) and torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 4])).backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    if nonzero:
        assert all(g.abs().sum() > 0 for g in grads.values())


def test_head_rows_skip_the_convolutions_and_their_time_statistics_are_learnt() -> None:
    """A class told only by one head row's level over the clip: the convolutions never see the
    rows, and the head alone learns it."""
    torch.manual_seed(0)
    net = MelCNN(2, channels=(8, 16), head_rows=4)
    seen = []
    net.features.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[2]))

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 2, (n,))
        x = torch.randn(n, 1, 32 + 4, 40)
        x[:, :, -2] += 0.5 * (2 * y[:, None, None] - 1)  # one head row, +-0.5 over the whole clip
        return x, y

    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        x, y = batch(32)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    x, y = batch(400)
    assert set(seen) == {32}
    assert (net(x).argmax(1) == y).float().mean() > 0.95


def test_head_rows_must_be_the_front_ends_pitch_rows() -> None:
    with pytest.raises(ValueError, match=r"head_rows=64 must be the front end's pitch rows \(0;"):
        VoiceFrontEnd(LogMel(hop_length=320)).adapt_to(MelCNN(2, head_rows=64))
    VoiceFrontEnd(LogMel(hop_length=320), pitch=Periodicity(hop_length=320)).adapt_to(MelCNN(2, head_rows=64))


@pytest.mark.parametrize("experiment", ["voice_mel", "voice_gender", "voice_age_gender"])
def test_the_configured_cnn_takes_the_pitch_rows_into_its_head_and_follows_them(tmp_path: Path,
                                                                               experiment: str) -> None:
    """The default mel CNN's head rows are the front end's pitch rows, also when a user changes
    their number or switches them off (else the model could not be built: `adapt_to` refuses)."""
    def model(*overrides: str):
        return instantiate(compose_cfg("train", tmp_path, tmp_path, [f"experiment={experiment}", *overrides]).model)

    default, fewer, off = model(), model("model.frontend.pitch.n_bins=32"), model("model.frontend.pitch=null")
    assert (default.net.head_rows, default.frontend.pitch.n_bins) == (64, 64)
    assert (fewer.net.head_rows, fewer.frontend.pitch.n_bins) == (32, 32)
    assert off.net.head_rows == 0 and off.frontend.pitch is None


def test_local_weights_load_exactly(tmp_path) -> None:
    from safetensors.torch import save_file

    src = create_backbone("resnet18", num_classes=1000, in_chans=3)
    save_file(src.state_dict(), tmp_path / "r18.safetensors")
    net = create_backbone("resnet18", num_classes=4, in_chans=1, weights=str(tmp_path / "r18.safetensors"))
    # conv1 adapted to one channel by summing RGB filters; deeper layers equal the file
    torch.testing.assert_close(net.conv1.weight, src.conv1.weight.sum(dim=1, keepdim=True))
    torch.testing.assert_close(net.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    assert net.fc.out_features == 4


def test_a_new_head_on_pretrained_weights_starts_at_chance_and_a_fitting_head_is_kept(tmp_path) -> None:
    """timm's EfficientNet init draws a 2-class head from U(-0.71, 0.71) (1/sqrt(classes)): over
    a pretrained network's features that is a confident random guess, a starting loss far above
    ln 2, and a head that fine-tuning's small steps barely move. A new head starts at zero instead."""
    src = create_backbone("test_efficientnet", num_classes=1000, in_chans=3)
    torch.save(src.state_dict(), tmp_path / "effnet.pth")
    net = create_backbone("test_efficientnet", num_classes=2, in_chans=1, weights=str(tmp_path / "effnet.pth"))
    logits = net.eval()(torch.randn(4, 1, 64, 64))
    assert torch.count_nonzero(logits) == 0, "the new head predicts chance for every film"
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1]))
    assert loss.item() == pytest.approx(math.log(2))
    torch.testing.assert_close(net.conv_head.weight, src.conv_head.weight)  # the backbone as saved

    same = create_backbone("test_efficientnet", num_classes=1000, in_chans=3, weights=str(tmp_path / "effnet.pth"))
    torch.testing.assert_close(same.classifier.weight, src.classifier.weight)  # a head the file holds stays


def test_unreachable_hub_is_an_error_not_random_weights() -> None:
    with pytest.raises(RuntimeError, match="model.net.weights"):
        create_backbone("resnet18", 2, pretrained=True)


def test_unknown_backbone_names_the_fix() -> None:
    with pytest.raises(ValueError, match="timm.list_models"):
        create_backbone("resnet_nope", 2)
