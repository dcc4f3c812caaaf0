"""A misspelt override is one line naming the nearest valid name, in seconds, before torch is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.config import ROOT
from tests.helpers.scripts import FAST_SECONDS, run

# one check on an idle core: under a second (the config composed once, with the command's group choices)
CHECK_SECONDS = 5

REFUSED = {
    "model.optimiser.lr=1e-3": "model.optimiser.lr=1e-3: the config has no model.optimiser; "
                               "did you mean model.optimizer.lr=1e-3?",
    "experiment=voice_mle": "experiment=voice_mle: conf/experiment/ has no voice_mle.yaml; did you mean "
                            "experiment=voice_mel? (experiment options: voice_age, voice_age_gender, voice_gender, "
                            "voice_gender_ssl, voice_mel, voice_ssl, xray_pneumonia)",
    "model=mel_cnnn": "model=mel_cnnn: conf/model/ has no mel_cnnn.yaml; did you mean model=mel_cnn?",
    "data=voyce": "data=voyce: conf/data/ has no voyce.yaml; did you mean data=voice?",
    "+model.optimiser.lr=1e-3": "+model.optimiser.lr=1e-3 adds model.optimiser beside model.optimizer; "
                                "did you mean model.optimizer.lr=1e-3?",
    "+model.optimiser.betas=[0.9,0.99]": "did you mean +model.optimizer.betas=[0.9,0.99]?",
    "trainer.max_epoch=3":
        "trainer.max_epoch=3: the config has no trainer.max_epoch; did you mean trainer.max_epochs=3?",
    "+trainer.max_epoch=3": "+trainer.max_epoch=3 adds trainer.max_epoch beside trainer.max_epochs; "
                            "did you mean trainer.max_epochs=3?",
    "+trainer.max_epochs=3": "trainer.max_epochs exists already; set it without the +: trainer.max_epochs=3",
    "experimant=voice_mel": "did you mean experiment=voice_mel?",
    "-m debug=fdr,limt": "debug=fdr,limt: conf/debug/ has no limt.yaml; did you mean debug=limit?",
    "model.foo=1": "the config has no model.foo (model holds _target_, class_names, frontend, net, optimizer",
}
ACCEPTED = [  # what the tests and the README add on purpose
    "+trainer.limit_train_batches=2 +trainer.limit_val_batches=1",
    "+callbacks.probe._target_=tests.helpers.probes.EpochProbe +callbacks.probe.path=/tmp/p.jsonl",
    "-m debug=fdr,limit model.optimizer.lr=0.001,0.0003",
    "experiment=xray_pneumonia model.net.name=test_resnet model.net.pretrained=false",
    "++model.optimiser.lr=1e-3",
    "hydra.run.dir=/tmp/x hydra/launcher=slurm",
    "model.optimizer.lr=1e-3 --help",
]
CHECK_ALL = """
import json, sys, time
from voxray.errors import UserError
from voxray.cli.overrides import check_overrides
out = {}
for command in json.loads(sys.argv[1]):
    start = time.monotonic()
    try:
        check_overrides(sys.argv[2], sys.argv[3], command.split())
        out[command] = [None, time.monotonic() - start]
    except UserError as err:
        out[command] = [str(err), time.monotonic() - start]
print(json.dumps({"results": out, "torch": "torch" in sys.modules}))
"""


def check_in_fresh_python(commands: list[str], config: str = "train") -> dict:
    done = subprocess.run([sys.executable, "-c", CHECK_ALL, json.dumps(commands), str(ROOT / "conf"), config],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_each_typo_gets_the_nearest_name_before_torch() -> None:
    checked = check_in_fresh_python([*REFUSED, *ACCEPTED])
    assert not checked["torch"], "the check imports no torch"
    for command, says in REFUSED.items():
        message, seconds = checked["results"][command]
        assert message is not None and says in message, (command, message)
        assert "\n" not in message and seconds < CHECK_SECONDS, (command, seconds)
    refused = {c: m for c, (m, _) in checked["results"].items() if c in ACCEPTED and m is not None}
    assert not refused, refused


def test_eval_adds_a_data_override_to_its_empty_data_node() -> None:
    checked = check_in_fresh_python(["+data.root=/data/chest_xray", "data.root=/data/chest_xray"], "eval")
    assert checked["results"]["+data.root=/data/chest_xray"][0] is None
    assert "to add a new key write +data.root=/data/chest_xray" in checked["results"]["data.root=/data/chest_xray"][0]


@pytest.mark.parametrize("typo", ["model.optimiser.lr=1e-3", "experiment=voice_mle", "trainer.max_epoch=3"])
def test_a_typo_on_the_command_line_is_one_line(tmp_path: Path, typo: str) -> None:
    done, seconds = run(["train.py", typo], tmp_path)
    assert done.returncode == 1 and seconds < FAST_SECONDS, (seconds, done.stderr[-2000:])
    assert done.stderr.startswith(f"error: {REFUSED[typo]}") and done.stderr.count("\n") == 1, done.stderr
