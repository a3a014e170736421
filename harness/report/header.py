"""The top of ``summary.md``: a title, the run's essentials, the stability ranking and what to watch out for."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.report.tables import label
from harness.results.read import find_runs
from harness.common.schema import (IMAGE_COLUMNS, MAP_CONSTANT, MAP_CONSTANT_CLEAN, METHOD, NAN_REASON, RUN,
                            read_conditions, present)


def run_info(root: Path) -> dict:
    """The ``run_info.json`` of a run, or of the first job of a sweep ({} if there is none)."""
    for run in [root, *find_runs(root)]:
        if (run / "run_info.json").is_file():
            return json.loads((run / "run_info.json").read_text())
    return {}


def _essentials(info: dict, what: str, n_runs: int) -> list[str]:
    if not info:
        return []
    cfg = info.get("config", {})
    model, data = info.get("model", {}), cfg.get("data", {})
    net_cfg = cfg.get("model", {}).get("network", {})
    network = str(net_cfg.get("_target_", "?")).rsplit(".", 1)[-1]
    details = ", ".join(f"{k} {net_cfg[k]}" for k in ("name", "width") if net_cfg.get(k) is not None)
    network += f" ({details})" if details else ""
    lines = [
        f"- Data: `{_module(data.get('_target_'))}` "
        f"({len(info.get('classes', []))} classes), "
        f"{info.get('n_images', '?')} test images explained" + ("" if info.get("data", {}).get("has_masks", True)
                                                                else "; no foreground masks"),
        f"- Model: `{network}`, encoding `{model.get('encoding', '?')}`, validation accuracy "
        f"{model.get('val_accuracy', float('nan')):.3f}, test accuracy {model.get('test_accuracy', float('nan')):.3f}"
        f" (checkpoint `{Path(str(model.get('checkpoint', '?'))).name}`)",
        f"- Run: {info.get('date', '?')}, seed {info.get('seed')}, {info.get('device')}"
        + (f", `{info['command']}`" if info.get("command") else ""),
    ]
    shards = info.get("shards")
    if what == "sweep" and shards:
        missing = f"; shards {', '.join(map(str, shards['missing']))} missing" if shards.get("missing") else ""
        lines.append(f"- Merged from {len(shards['merged'])} of {shards['of']} shards of the test images ({n_runs} "
                     f"jobs){missing}; settings that differ are `cfg:` columns")
    elif what == "sweep":
        lines.append(f"- Sweep of {n_runs} jobs (essentials above: the first job); settings that differ are `cfg:` "
                     "columns")
    elif what == "pool":
        lines.append(f"- Pool of {n_runs} runs (essentials above: the first); settings that differ are `cfg:` columns")
    accuracy = _accuracies(info)
    if accuracy:
        lines.append(accuracy)
    checks = info.get("logit_check") or {}
    if checks:
        lines.append(f"- Rewritten networks reproduce the logits to {max(checks.values()):.2g} (max |logit "
                     f"difference| over {len(checks)} condition{'s' if len(checks) > 1 else ''})")
    return lines


def _module(target) -> str:
    """``harness.data.synthetic_rps.make_splits`` → ``synthetic_rps``: the module a builder lives in."""
    parts = str(target or "?").split(".")
    return parts[-2] if len(parts) > 1 else parts[0]


def _accuracies(info: dict) -> str:
    """One line: the test accuracy of the original network and of each condition's network on its inputs."""
    conds = [c for c in read_conditions(info) if c.accuracy is not None]
    if not conds or info.get("clean_accuracy") is None:
        return ""
    parts = []
    for regime in dict.fromkeys(c.regime for c in conds):
        series = sorted((c for c in conds if c.regime == regime), key=lambda c: c.magnitude)
        values = ", ".join(f"{c.magnitude:+g}: {c.accuracy:.2f}" for c in series)
        parts.append(f"{regime} ({values})")
    return f"- Test accuracy under each condition (magnitude: accuracy; clean {info['clean_accuracy']:.3f}): " + \
        "; ".join(parts)


def constant_maps(scores: pd.DataFrame) -> list[str]:
    """Per method, how many clean and perturbed maps are constant up to their precision (an all-zero Grad-CAM, a
    Grad-CAM of a 1×1 feature map: :mod:`harness.metrics.precision`), from the ``map_constant(_clean)`` columns (or,
    for results written before them, the NaN reasons)."""
    if MAP_CONSTANT in scores.columns:
        perturbed_flag = scores[MAP_CONSTANT].astype(bool)
        clean_flag = scores[MAP_CONSTANT_CLEAN].astype(bool)
    elif NAN_REASON in scores.columns:
        reason = scores[NAN_REASON].astype(object).where(scores[NAN_REASON].notna(), "").astype(str)
        perturbed_flag, clean_flag = reason.str.contains("constant perturbed map"), reason.str.contains(
            "constant clean map")
    else:
        return []
    out = []
    for method, df in scores.groupby(METHOD, sort=False):
        images = df[present(df.columns, IMAGE_COLUMNS)].drop_duplicates()
        clean = df[clean_flag.loc[df.index]][images.columns].drop_duplicates()
        perturbed = int(perturbed_flag.loc[df.index].sum())
        if len(clean) or perturbed:
            out.append(f"{method}: {len(clean)} of {len(images)} clean maps, {perturbed} of {len(df)} perturbed maps")
    return out


def markdown(root: Path, what: str, scores: pd.DataFrame, summary: pd.DataFrame, rank: list[str],
             metric: str, prefer: str = "stable") -> str:
    """Everything in ``summary.md`` above the table."""
    info = run_info(root)
    title = info.get("experiment") or root.name
    lines = [f"# {title}: saliency maps, clean vs perturbed", "", *_essentials(info, what, scores[RUN].nunique()), ""]
    if prefer == "stable":
        lines += [f"Stability ranking by mean {label(metric)} (most stable first; mean over magnitudes):", ""]
    else:
        lines += [f"Ranking by mean {label(metric)}, the maps that changed most first (a method passes a sanity check "
                  "by changing; mean over magnitudes):", ""]
    lines += [f"- {r}" for r in rank] + [""]
    constant = constant_maps(scores)
    if constant:
        lines += ["Constant maps (up to float precision, e.g. an all-zero Grad-CAM; the measures of their pattern are "
                  "NaN, counted in n_nan): "
                  + "; ".join(constant) + ".", ""]
    skipped = info.get("data", {}).get("n_skipped", 0)
    if skipped:
        lines += [f"Data: {skipped} unreadable image file(s) were skipped (listed in run_info.json).", ""]
    lines += ["Cells: mean ± half-width of the bootstrap 95% CI over images; n = images scored (first measure), "
              "n_nan = undefined scores (reasons in summary.csv).", ""]
    return "\n".join(lines) + "\n"
