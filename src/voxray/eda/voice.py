"""Voice EDA: sample clips, label counts, hand-crafted feature distributions and correlations,
mean log-mel spectrograms by gender and age. Large corpora are sampled (`max_clips`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voxray.data.voice.audio import decode
from voxray.data.voice.datamodule import VoiceDataModule
from voxray.eda.index import Item, save_figure
from voxray.eda.plots import count_bars, distribution_grid, heatmap, mean_images
from voxray.eda.voice_clips import MEL, clip_figure
from voxray.features.extractors import HandcraftedFeatures, features_of_rows
from voxray.features.handcrafted import FeatureParams
from voxray.features.logmel import LogMel

# Iglewicz & Hoaglin's cut-off for the modified z-score 0.6745 (x - median) / MAD.
ROBUST_Z = 3.5


def voice_figures(
    datamodule: VoiceDataModule,
    out_dir: Path,
    seed: int,
    labels: Mapping,
    features: FeatureParams,
    max_clips: int = 2000,
    n_examples: int = 3,
    num_workers: int | None = None,
) -> list[Item]:
    """Draw every voice figure into `out_dir`; returns their index entries.

    Args:
        datamodule: a set-up `VoiceDataModule`.
        out_dir: the run folder.
        seed: sampling seed.
        labels: the data config's `labels` (classes and raw-label maps of age and gender).
        features: hand-crafted feature settings.
        max_clips: clips sampled for feature and log-mel statistics (2000).
        n_examples: sample clips drawn per gender (3), spread over age groups.
        num_workers: feature worker processes (None = the usable cores).
    """
    rng = np.random.default_rng(seed)
    table = with_classes(datamodule.table, labels)
    target = datamodule.target
    raw = {f"{t} (raw label)": raw_labels(table[t], labels[t]["map"]) for t in ("age", "gender")}
    items = [save_figure(count_bars(raw, table["split"]), out_dir, "label_counts", "Age and gender labels",
                         f"Raw age and gender labels (as recorded, blank and unmapped included) of the "
                         f"{len(table)} clips kept for target={target}: the table holds only clips "
                         f"whose {target} label maps to a class. Top: all splits; bottom: per split.")]
    steps = "denoised, " if datamodule.clean.denoise else ""
    for i, (_, row) in enumerate(pick_examples(table, n_examples, rng).iterrows()):
        before = decode(row["path"], datamodule.clean.sample_rate, datamodule.clean.max_seconds)
        after = datamodule.data[row["row"]].astype(np.float32) / 32768.0
        who = (f"speaker {row['client_id'][:8]}, age {row['age'] or '(blank)'}, gender "
               f"{row['gender'] or '(blank)'}, {row['split']}")
        items.append(save_figure(
            clip_figure(before, after, who, features), out_dir, f"clip_{i}", f"Sample clip {i}: {who}",
            f"Left: the decoded file; right: the cached row ({steps}trimmed, centre-cropped or "
            "zero-padded to 3 s, peak-normalised). Dashed lines: librosa onsets; cyan: pYIN f0."))

    picked = np.sort(rng.choice(len(table), size=min(max_clips, len(table)), replace=False))
    sample = table.iloc[picked].reset_index(drop=True)
    values = features_of_rows(HandcraftedFeatures(features, num_workers), datamodule.data,
                              sample["row"], sample["duration_s"], datamodule.cache_dir / "features")
    items += feature_items(values, sample, out_dir)
    items += logmel_items(datamodule.data, sample, labels, out_dir)
    return items


def with_classes(table: pd.DataFrame, labels: Mapping) -> pd.DataFrame:
    """`table` plus age_class and gender_class (class of the raw label, NaN when unmapped),
    age_order (teens = 0, ...) and gender_code (index in the gender classes: female 0, male 1)."""
    out = table.copy()
    for target in ("age", "gender"):
        out[f"{target}_class"] = out[target].map(dict(labels[target]["map"]))
    out["age_order"] = out["age_class"].map({c: i for i, c in enumerate(labels["age"]["classes"])})
    out["gender_code"] = out["gender_class"].map({c: i for i, c in enumerate(labels["gender"]["classes"])})
    return out


def raw_labels(values: pd.Series, label_map: Mapping) -> tuple[pd.Series, list[str]]:
    """Raw labels with blanks named "(blank)", and their drawing order: the config's map order,
    then unmapped labels alphabetically, "(blank)" last."""
    values = values.replace("", "(blank)")
    seen = set(values)
    mapped = [label for label in label_map if label in seen]
    rest = sorted(seen - set(mapped) - {"(blank)"})
    blank = ["(blank)"] if "(blank)" in seen else []
    return values, mapped + rest + blank


def pick_examples(table: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Up to `n` training clips per gender class, each from a different age group while any is left."""
    train = table[table["split"] == "train"]
    picks = []
    for _, part in train.groupby("gender_class"):
        shuffled = part.sample(frac=1, random_state=rng)
        first = shuffled.drop_duplicates("age_class")  # one per age group (blank ages count as one)
        rest = shuffled.drop(first.index)
        picks.append(pd.concat([first, rest]).head(n).sort_values("age_order"))
    return pd.concat(picks) if picks else train.head(0)


def robust_z(values: pd.DataFrame) -> pd.DataFrame:
    """Modified z-score per column; NaN where the MAD is 0 (a constant column has no outliers)."""
    median = values.median()
    mad = (values - median).abs().median()
    return 0.6745 * (values - median) / mad.replace(0, np.nan)


def outliers_of(values: pd.DataFrame, sample: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per flagged value: clip, feature, value, robust z; the (clips, features) flags).

    z is taken within the clip's gender (against all clips when it has none): pooled, the
    bimodal f0 features would flag a tenth of all voices as outliers.
    """
    z = robust_z(values)
    for _, index in sample.groupby("gender_class").groups.items():
        z.loc[index] = robust_z(values.loc[index])
    flagged = z.abs() > ROBUST_Z
    hits = flagged.stack()
    hits = hits[hits].index.to_frame(index=False, name=["clip", "feature"])
    table = sample.loc[hits["clip"], ["path", "client_id", "split", "age", "gender"]].reset_index(drop=True)
    table["feature"] = hits["feature"].to_numpy()
    table["value"] = [values.at[c, f] for c, f in zip(hits["clip"], hits["feature"])]
    table["robust_z"] = [z.at[c, f] for c, f in zip(hits["clip"], hits["feature"])]
    return table, flagged


def feature_items(values: pd.DataFrame, sample: pd.DataFrame, out_dir: Path) -> list[Item]:
    """Feature histograms (raw, signed log1p) by gender with outliers flagged, and correlations."""
    outliers, flagged = outliers_of(values, sample)
    outliers.to_csv(out_dir / "feature_outliers.csv", index=False)
    summary = (f"{len(outliers)} values in {flagged.any(axis=1).sum()} of {len(values)} clips have "
               f"|robust z| > {ROBUST_Z} within their gender (counted in the subplot titles; listed in "
               "feature_outliers.csv)")
    gendered = sample["gender_class"].notna().to_numpy()
    genders = sample["gender_class"][gendered]
    logged = np.sign(values) * np.log1p(values.abs())  # MFCC means are negative: log1p of |x|
    items = [
        save_figure(distribution_grid(values[gendered], genders, flagged.sum()), out_dir,
                    "features_raw", "Hand-crafted features by gender",
                    f"{gendered.sum()} sampled clips with a female or male label (of {len(values)}; "
                    f"each curve a density). {summary}."),
        save_figure(distribution_grid(logged[gendered], genders, flagged.sum()), out_dir,
                    "features_log1p", "Hand-crafted features by gender, sign(x)·log1p(|x|)",
                    f"The same clips on a signed log1p scale, which tames the skewed rates and "
                    f"energies. {summary}."),
    ]
    coded = pd.concat([sample[["age_order", "gender_code"]], values], axis=1)
    rho = coded.corr(method="spearman")
    labels = ["age_order", "gender_code"]
    strongest = "; ".join(
        f"{t}: " + ", ".join(f"{f} ({rho.at[f, t]:+.2f})" for f in rho[t].drop(labels).abs().nlargest(3).index)
        for t in labels
    )
    items.append(save_figure(heatmap(rho), out_dir, "feature_correlation", "Feature correlations",
                             "Spearman correlation of the features with age (ordinal: teens = 0, "
                             "twenties = 1, ...) and gender (female 0, male 1), pairwise over labelled "
                             f"clips. Strongest: {strongest}."))
    return items


@torch.inference_mode()
def logmel_items(data: np.ndarray, sample: pd.DataFrame, labels: Mapping, out_dir: Path) -> list[Item]:
    """Mean log-mel image (as the CNN's front end computes it) per gender and per age group."""
    logmel = LogMel(**MEL)  # the mel CNN's front-end settings
    total, count = {}, {}  # keyed by (target, class)
    for start in range(0, len(sample), 256):
        part = sample.iloc[start : start + 256]
        waves = torch.from_numpy(np.asarray(data[part["row"].to_numpy()])).float() / 32768.0
        mels = logmel(waves)[:, 0].double()  # (B, n_mels, T)
        for target in ("gender", "age"):
            for name, index in part.groupby(f"{target}_class").indices.items():
                key = (target, name)
                total[key] = total.get(key, 0) + mels[index].sum(0)
                count[key] = count.get(key, 0) + len(index)
    items = []
    for target in ("gender", "age"):
        classes = [c for c in labels[target]["classes"] if (target, c) in count]
        means = {c: (total[target, c] / count[target, c]).numpy() for c in classes}
        pairwise = target == "gender" and len(classes) == 2
        difference = (f"right: {classes[-1]} minus {classes[0]}" if pairwise
                      else "bottom: each group minus the mean of all groups")
        caption = (f"Mean log-mel image (64 bands, 20-ms hop, dB, as the CNN's front end computes "
                   f"it) of the sampled clips per {target} class; {difference}. The zero padding "
                   "after short clips is part of what the CNN sees.")
        figure = mean_images(means, {c: count[target, c] for c in classes}, pairwise,
                             axis_labels=("frame (20 ms)", "mel band"))
        items.append(save_figure(figure, out_dir, f"mean_logmel_{target}", f"Mean log-mel by {target}",
                                 caption))
    return items
