"""Transfer learning schedule: train the new head on a frozen backbone, then fine-tune it all."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer


def split_head(net: nn.Module) -> tuple[list[nn.Module], nn.Module]:
    """(backbone modules, head) of a network with `get_classifier()` (timm's, `SpeechEncoderClassifier`).

    Children named in `net.keep_frozen` (a speech encoder's pretrained feature extractor) are in
    neither: they stay frozen through fine-tuning.
    """
    head = net.get_classifier()
    head_ids = {id(p) for p in head.parameters()}
    fixed = set(getattr(net, "keep_frozen", ()))
    body = [m for name, m in net.named_children()
            if name not in fixed and not any(id(p) in head_ids for p in m.parameters())]
    return body, head


class BackboneFreeze(BaseFinetuning):
    """Freeze `pl_module.net`'s backbone for `unfreeze_at_epoch` epochs, then add it to the optimizer
    with `backbone_lr_ratio` x the head's learning rate (pretrained features need small steps).

    Args:
        unfreeze_at_epoch: epochs of head-only training (2); 0 trains everything from the start.
        backbone_lr_ratio: backbone lr / head lr after unfreezing (0.1).
        train_bn: keep BatchNorm scales trainable while frozen (False: the whole backbone waits).
    """

    def __init__(self, unfreeze_at_epoch: int = 2, backbone_lr_ratio: float = 0.1, train_bn: bool = False) -> None:
        super().__init__()
        self.unfreeze_at_epoch, self.backbone_lr_ratio, self.train_bn = unfreeze_at_epoch, backbone_lr_ratio, train_bn

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        # freezing random features would only train a head on noise
        self.active = self.unfreeze_at_epoch > 0 and getattr(pl_module.net, "has_pretrained_weights", True)
        if self.active:
            self.freeze(split_head(pl_module.net)[0], train_bn=self.train_bn)
        elif self.unfreeze_at_epoch > 0:
            rank_zero_info("BackboneFreeze: the backbone has no pretrained weights; training it from the start")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        restarting = self._restarting
        super().on_fit_start(trainer, pl_module)  # a resume: restores the optimizer's param groups
        groups = self._internal_optimizer_metadata.get(0, [])
        if restarting and self.active and len(groups) > 1:
            # Lightning restores the backbone's param group but not requires_grad (nor BatchNorm's
            # running statistics): without this every epoch after a resume would train the head alone
            self.make_trainable(split_head(pl_module.net)[0])

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)  # calls finetune_function
        # Lightning restores each submodule's mode flag rather than calling train(): a network with
        # its own rule for frozen parts (SpeechEncoderClassifier: eval while frozen) gets it applied here
        pl_module.net.train(pl_module.training)
        for module in self.flatten_modules(split_head(pl_module.net)[0]):
            # `freeze` marks a frozen BatchNorm by track_running_stats=False, which in training mode
            # normalises with the batch's statistics and in evaluation with the running ones: the
            # head would learn on other features than validation hands it. Frozen means the running ones.
            if isinstance(module, _BatchNorm) and not module.track_running_stats and module.running_mean is not None:
                module.eval()

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if not self.active or epoch != self.unfreeze_at_epoch:
            return
        lr = optimizer.param_groups[0]["lr"] * self.backbone_lr_ratio
        self.unfreeze_and_add_param_group(split_head(pl_module.net)[0], optimizer, lr=lr, train_bn=True)
        optimizer.param_groups[-1]["initial_lr"] = lr
        # schedulers zip base_lrs with param_groups: without this the new group would not be scheduled
        for config in pl_module.trainer.lr_scheduler_configs:
            if config.scheduler.optimizer is optimizer and len(config.scheduler.base_lrs) < len(optimizer.param_groups):
                config.scheduler.base_lrs.append(lr)
