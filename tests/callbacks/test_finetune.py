"""The transfer schedule: only the head trains while frozen; then the backbone joins at a lower lr."""

import copy

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from voxray.callbacks.finetune import BackboneFreeze, split_head
from voxray.models.backbone import create_backbone


class Tiny(L.LightningModule):
    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        self.net = create_backbone("resnet18", num_classes=2, in_chans=1)
        self.net.has_pretrained_weights = pretrained  # stands in for weights we cannot download
        self.seen: list[tuple[int, int, list[float]]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def on_train_epoch_start(self) -> None:
        opt = self.optimizers().optimizer
        trainable = sum(p.requires_grad for p in self.net.parameters())
        self.seen.append((self.current_epoch, trainable, [g["lr"] for g in opt.param_groups]))

    def configure_optimizers(self):
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.1)


def fit(model: Tiny, epochs: int, tmp_path) -> None:
    data = TensorDataset(torch.randn(8, 1, 32, 32), torch.randint(0, 2, (8,)))
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, default_root_dir=tmp_path,
                        callbacks=[BackboneFreeze(unfreeze_at_epoch=1, backbone_lr_ratio=0.1)])
    trainer.fit(model, DataLoader(data, batch_size=4))


def test_random_backbone_is_not_frozen(tmp_path) -> None:
    model = Tiny(pretrained=False)
    fit(model, 1, tmp_path)
    assert model.seen[0][1] == len(list(model.net.parameters()))


def test_head_only_then_whole_network_at_lower_lr(tmp_path) -> None:
    model = Tiny()
    before = {n: p.detach().clone() for n, p in model.net.named_parameters()}
    fit(model, 1, tmp_path)
    changed = {n for n, p in model.net.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"fc.weight", "fc.bias"}, "only the head moves while the backbone is frozen"

    model = Tiny()
    fit(model, 2, tmp_path)
    head = split_head(model.net)[1]
    (e0, n0, lr0), (e1, n1, lr1) = model.seen
    assert n0 == len(list(head.parameters())) and n1 == len(list(model.net.parameters()))
    assert lr0 == [0.1] and lr1 == [0.1, 0.1 * 0.1]


class Features(Tiny):
    """Records, in every training step, how far the backbone's features are from those an eval-mode
    copy of the starting backbone gives the same batch."""

    def __init__(self) -> None:
        super().__init__()
        self.reference = [copy.deepcopy(self.net).eval()]  # a list: not a submodule Lightning would train
        self.gaps: list[tuple[int, float]] = []

    def training_step(self, batch, batch_idx):
        with torch.no_grad():
            gap = self.net.forward_features(batch[0]) - self.reference[0].forward_features(batch[0])
        self.gaps.append((self.current_epoch, gap.abs().max().item()))
        return super().training_step(batch, batch_idx)


def test_a_frozen_backbone_hands_the_head_the_features_it_is_evaluated_with(tmp_path) -> None:
    """While frozen, BatchNorm normalises with its running (pretrained) statistics in training too:
    with batch statistics the head would learn on other features than validation gives it."""
    model = Features()
    fit(model, 2, tmp_path)
    frozen = [gap for epoch, gap in model.gaps if epoch == 0]
    unfrozen = [gap for epoch, gap in model.gaps if epoch == 1]
    assert max(frozen) < 1e-5, f"head-only epoch: training features differ from evaluation's by {max(frozen):.3g}"
    assert min(unfrozen) > 1e-3, "fine-tuning trains BatchNorm (batch statistics)"
