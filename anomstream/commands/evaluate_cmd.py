"""`anomstream evaluate`: honest metrics per entity, their mean and pooled, with files and plots.

Writes into --out: results.csv and results.json (strict JSON: null where a metric is
undefined, never NaN), a row per entity, then MEAN (the unweighted mean of the entities, the
headline as the field reports it) and POOLED (all entities' points and events together);
scores/<entity>.npz with the per-point arrays (`evaluation.runner.save_arrays`); plots/.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from anomstream.commands import model_options
from anomstream.errors import CliError

# Columns of the stdout table: threshold-dependent numbers first, then the reference ones.
COLUMNS = [
    ("entity", "entity", "{}"),
    ("f1", "F1", "{:.3f}"),
    ("fc1", "Fc1", "{:.3f}"),
    ("auc_pr", "AUC-PR", "{:.3f}"),
    ("auc_roc", "AUC-ROC", "{:.3f}"),
    ("vus_pr", "VUS-PR", "{:.3f}"),
    ("pa_f1", "PA-F1", "{:.3f}"),
    ("random_pa_f1", "rand PA-F1", "{:.3f}"),
    ("best_f1", "best F1", "{:.3f}"),
    ("best_fc1", "best Fc1", "{:.3f}"),
    ("hitrate_100", "HR@100", "{:.3f}"),
    ("hitrate_150", "HR@150", "{:.3f}"),
]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score the test split and report F1, Fc1, AUC-PR and more",
        description="Scores each entity's test split with its newest model (training one "
        "first if there is none), thresholds chosen without labels. Prints a table with a row "
        "per entity, MEAN (unweighted mean over entities: the headline) and POOLED (all "
        "points and events together). Writes results.csv and results.json (strict JSON, null "
        "where undefined), a PNG per entity in plots/, and scores/<entity>.npz per entity "
        "with the arrays to recompute every metric: scores (float64), labels (int8), "
        "predictions (bool, flag = score > threshold), threshold (0-d float64) and, where "
        "the detector has them, contributions (rows x channels); np.load reads them without "
        "pickle. PA-F1 is shown only beside a random detector's PA-F1; best_* use the "
        "labels and are for reference only; VUS-PR is TSB-AD's (detectors/vus.py).",
    )
    model_options.add_model_arguments(parser)
    parser.add_argument(
        "--out", type=Path, help="output folder (default results/<dataset>/<detector>)"
    )
    parser.add_argument("--retrain", action="store_true", help="train anew even if a model exists")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG per entity")
    parser.set_defaults(run=run)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return fmt.format(value)


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [[_cell(row.get(key), fmt) for key, _, fmt in COLUMNS] for row in rows]
    headers = [title for _, title, _ in COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    for row in cells:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from detectors.base import DetectorError
    from detectors.results import jsonable, mean_of_entities
    from evaluation.runner import evaluate_entities
    from producers.datasets import DatasetError

    out: Path = args.out or Path("results") / args.dataset / args.detector
    config = model_options.train_config(args)  # a bad --param fails before data loads
    try:
        dataset = model_options.loader(args)
        results, pooled = evaluate_entities(
            dataset,
            model_options.entities(args, dataset),
            config,
            model_options.models_dir(args),
            out,
            retrain=args.retrain,
            plots=not args.no_plots,
            progress=not args.no_progress,
        )
    except (DatasetError, DetectorError) as exc:
        raise CliError(str(exc)) from None
    mean = mean_of_entities([r.result for r in results])
    rows = [r.row() for r in results] + [
        {"entity": "MEAN", **asdict(mean)},
        {"entity": "POOLED", **asdict(pooled)},
    ]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(jsonable(rows))  # empty cells where undefined, as in the JSON
    (out / "results.json").write_text(json.dumps(jsonable(rows), indent=2, allow_nan=False) + "\n")
    print(_table(rows))
    plots = "" if args.no_plots else f", plots in {out / 'plots'}"
    print(
        f"\nresults: {out / 'results.csv'}, {out / 'results.json'}; "
        f"per-point arrays in {out / 'scores'}{plots}"
    )
    return 0
