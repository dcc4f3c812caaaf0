"""Compare a joint age + gender run with age-only and gender-only runs, clips and speakers side by side.

    uv run train.py experiment=voice_mel        # age alone      -> outputs/train/runs/<A>
    uv run train.py experiment=voice_gender     # gender alone   -> outputs/train/runs/<G>
    uv run train.py experiment=voice_age_gender # both, one net  -> outputs/train/runs/<J>
    uv run python -m experiments.joint_vs_single outputs/train/runs/<J> outputs/train/runs/<A> outputs/train/runs/<G>

With the same seed the joint run tests age on the same speakers and clips as the age-only run
(`voxray.data.splits.first_label_split`). It prints test UAR with 95% CIs (speakers resampled) per
task and level, and two checks: the joint age UAR lies within the age-only run's 95% CI, and the
joint gender UAR is at least 0.95; `--record` appends the table to experiments/results.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.record import append_results

GENDER_BAR = 0.95
RESULTS = Path(__file__).with_name("results.md")


def _metrics(run: Path) -> dict:
    path = run / "metrics.json"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; give the folders of finished train runs")
    return json.loads(path.read_text())


def _cell(block: dict) -> str:
    ci = block["uar_ci95"]  # null where a class has one speaker: the interval is undefined
    return f"{block['uar']:.3f} " + ("(interval undefined)" if ci is None else f"({ci[0]:.2f}–{ci[1]:.2f})")


def compare(joint: Path, age: Path, gender: Path | None) -> str:
    """The markdown table and the two checks."""
    j, a = _metrics(joint), _metrics(age)
    singles = {"age": a, "gender": _metrics(gender) if gender else None}
    lines = ["| task | level | joint | single-task |", "| --- | --- | --- | --- |"]
    for task, single in singles.items():
        for level in ("clips", "speakers"):
            mine = _cell(_level(j, f"test/{task}/", level))
            theirs = _cell(_level(single, "test/", level)) if single else "-"
            lines.append(f"| {task} | {level} | {mine} | {theirs} |")
    if a["test/uar_ci95"] is None:
        raise SystemExit(f"{age}: the age-only test UAR has no interval (a class of one speaker); "
                         "the joint model cannot be checked against it")
    lo, hi = a["test/uar_ci95"]
    age_ok = lo <= j["test/age/uar"] <= hi
    gender_ok = j["test/gender/uar"] >= GENDER_BAR
    lines += ["", f"- joint age UAR {j['test/age/uar']:.3f} within the age-only 95% CI [{lo:.3f}, {hi:.3f}]: "
                  f"{'yes' if age_ok else 'NO'} (test clips: joint {j['test/age/n_examples']}, "
                  f"age-only {a['test/n_examples']})",
              f"- joint gender UAR {j['test/gender/uar']:.3f} >= {GENDER_BAR}: {'yes' if gender_ok else 'NO'}"]
    return "\n".join(lines)


def _level(metrics: dict, prefix: str, level: str) -> dict:
    """UAR and its CI at one level: `<prefix>uar` for clips, the `<prefix>speaker` block for speakers."""
    if level == "speakers":
        return metrics[f"{prefix}speaker"]
    return {"uar": metrics[f"{prefix}uar"], "uar_ci95": metrics[f"{prefix}uar_ci95"]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.joint_vs_single", description=__doc__.splitlines()[0])
    parser.add_argument("joint", type=Path, help="run folder of experiment=voice_age_gender")
    parser.add_argument("age", type=Path, help="run folder of experiment=voice_mel (same seed)")
    parser.add_argument("gender", type=Path, nargs="?", help="run folder of experiment=voice_gender")
    parser.add_argument("--record", action="store_true", help="append the table to experiments/results.md")
    args = parser.parse_args()
    table = compare(args.joint, args.age, args.gender)
    print(table)
    if args.record:
        append_results("Joint age + gender model against single-task models", table, RESULTS)


if __name__ == "__main__":
    main()
