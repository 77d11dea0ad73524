"""A static HTML page per training run, and one comparing runs: ``pix2gan report``.

:func:`write_report` writes ``<run_dir>/report.html`` with the run's model card (every setting,
run option, data option, final metric and library version), a table of every metric logged per
epoch, a plot per metric (matplotlib PNGs in ``<run_dir>/report/``), the sample grid of every
epoch and links to the saved models, the card and every other file the run left at the top of its
folder. Every training run writes it at its end; ``pix2gan report RUN_DIR`` writes it again (for
example for a run still in progress, or one made before reports existed).
:func:`write_comparison` puts several runs' curves and final metrics side by side.

The metrics are read from the run's TensorBoard event files, which every run writes anyway
(:func:`pix2gan.callbacks.standard_callbacks`): a scalar tagged ``epoch_*`` with step ``e`` is
epoch ``e + 1`` (Keras's ``TensorBoard`` callback and :class:`pix2gan.callbacks.ScalarLogger`);
other scalars (for example the test scores cloud removal logs once) go to a table of their own.
A resumed run repeats the epochs after its last backup and writes a second event file, so where
an epoch was logged twice the value written last (by wall time) is kept; an event file cut short
by a kill is read up to the damage.

The model card is found from ``<run_dir>/report/run.json`` (written with every report: where the
card is), else the ``card`` argument, else ``models/<run name>_generator.json``; without one the
page says so and shows the rest.
"""
from __future__ import annotations

import glob
import html
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import Pix2GanError
from .saving import atomic_write, text_writer

logger = logging.getLogger("pix2gan")

REPORT_NAME = "report.html"
ASSETS = "report"  # the folder beside report.html holding the plots and run.json
_EPOCH_TAG = re.compile(r"^epoch_(?P<name>.+)$")
_GRID = re.compile(r"^epoch_(?P<epoch>\d+)\.png$")
_SKIP_DIRS = {"backup", ASSETS}
_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px;
       color: #1d1d1f; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f6; position: sticky; top: 0; }
.scroll { overflow-x: auto; max-height: 520px; overflow-y: auto; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; } .plots img { width: 360px; border: 1px solid #eee; }
.grid img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
.muted { color: #777; } code { background: #f4f4f6; padding: 0 3px; }
"""


# ---------------------------------------------------------------------------- reading a run

@dataclass
class RunLog:
    """What a run folder holds: ``epochs[column][epoch]`` for every per-epoch scalar
    (``column`` is ``<folder>/<name>``, e.g. ``train/g_loss``, ``validation/psnr``), ``others``
    ``[(folder, tag, step, value)]`` for the rest, and the sample grids ``{epoch: path}``."""
    run_dir: str
    epochs: dict[str, dict[int, float]] = field(default_factory=dict)
    others: list[tuple[str, str, int, float]] = field(default_factory=list)
    grids: dict[int, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.run_dir))

    def epoch_numbers(self) -> list[int]:
        return sorted({e for values in self.epochs.values() for e in values})

    def final(self) -> dict[str, float]:
        """The last logged value of every per-epoch column."""
        return {column: values[max(values)] for column, values in self.epochs.items() if values}


def _scalar(value) -> float | None:
    """The number in one summary value (TF2 tensor summaries or TF1 ``simple_value``), else None."""
    if value.WhichOneof("value") == "simple_value":
        return float(value.simple_value)
    if value.HasField("tensor") and value.metadata.plugin_data.plugin_name in ("scalars", ""):
        array = tf.make_ndarray(value.tensor)
        if array.size == 1 and array.dtype.kind in "fiub":
            return float(array.reshape(()))
    return None


def _events(path: str):
    """``(wall_time, step, tag, value)`` of every scalar in one event file, up to any damage."""
    try:
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = _scalar(value)
                if number is not None:
                    yield event.wall_time, int(event.step), value.tag, number
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as exc:  # a file cut short by a kill
        logger.warning("event file %s is damaged after its last whole record (%s): read up to there", path,
                       type(exc).__name__)


def read_run(run_dir: str) -> RunLog:
    """Read every scalar and sample grid of the run folder ``run_dir`` (see the module doc)."""
    if not os.path.isdir(run_dir):
        raise Pix2GanError(f"run folder {run_dir} does not exist: pass a run's log folder, e.g. logs/<run name>",
                           argument="run_dir")
    log = RunLog(run_dir)
    latest: dict[tuple[str, str, int], tuple[float, float]] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "**", "events.out.tfevents.*"), recursive=True)):
        folder = os.path.relpath(os.path.dirname(path), run_dir)
        if folder.split(os.sep)[0] in _SKIP_DIRS:
            continue
        folder = "" if folder == "." else folder.replace(os.sep, "/")
        for wall, step, tag, value in _events(path):
            key = (folder, tag, step)
            if key not in latest or wall >= latest[key][0]:  # a resumed run's repeat of an epoch wins
                latest[key] = (wall, value)
    for (folder, tag, step), (_, value) in sorted(latest.items()):
        match = _EPOCH_TAG.match(tag)
        if match:
            column = f"{folder}/{match['name']}" if folder else match["name"]
            log.epochs.setdefault(column, {})[step + 1] = value
        else:
            log.others.append((folder, tag, step, value))
    samples = os.path.join(run_dir, "samples")
    if os.path.isdir(samples):
        for name in os.listdir(samples):
            match = _GRID.match(name)
            if match:
                log.grids[int(match["epoch"])] = os.path.join(samples, name)
    return log


def find_card(run_dir: str, card: str | None = None) -> str | None:
    """The model card of the run in ``run_dir``: ``card`` if given, else the one recorded in
    ``<run_dir>/report/run.json``, else ``models/<run name>_generator[_AB].json``; None if none exists."""
    if card is not None:
        if not os.path.isfile(card):
            raise Pix2GanError(f"card {card} does not exist: pass the <run>_generator.json written next to the model",
                               argument="card")
        return card
    record = os.path.join(run_dir, ASSETS, "run.json")
    if os.path.isfile(record):
        try:
            with open(record) as f:
                recorded = json.load(f).get("card")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded:
            path = recorded if os.path.isabs(recorded) else os.path.join(run_dir, ASSETS, recorded)
            if os.path.isfile(path):
                return path
    name = os.path.basename(os.path.normpath(run_dir))
    for suffix in ("_generator.json", "_generator_AB.json"):
        path = os.path.join("models", name + suffix)
        if os.path.isfile(path):
            return path
    return None


def _read_card(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        with open(path) as f:
            card = json.load(f)
    except (OSError, ValueError) as exc:
        raise Pix2GanError(f"card {path} is not readable JSON ({exc}): pass the card written by pix2gan",
                           argument="card") from None
    return card if isinstance(card, dict) else None


# ---------------------------------------------------------------------------- plots

def _plot(path: str, title: str, lines: Mapping[str, Mapping[int, float]]) -> str:
    """One line plot (x: epoch) of ``{label: {epoch: value}}`` written atomically as a PNG."""
    figure = Figure(figsize=(4.2, 2.7), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for label, values in lines.items():
        epochs = sorted(values)
        ax.plot(epochs, [values[e] for e in epochs], marker="o" if len(epochs) <= 30 else None, markersize=3,
                linewidth=1.4, label=label)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    epochs = sorted({e for values in lines.values() for e in values})
    if len(epochs) == 1:  # one point: a single tick rather than a fractional axis around it
        ax.set_xticks(epochs)
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)
    if len(lines) > 1:
        ax.legend(fontsize=7)
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))


def _png_width(path: str) -> int | None:
    """The width in a PNG's header (None if it is not a PNG)."""
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big") if head[:8] == b"\x89PNG\r\n\x1a\n" else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "metric"


def _metric_groups(epochs: Mapping[str, Mapping[int, float]]) -> dict[str, dict[str, Mapping[int, float]]]:
    """Per-epoch columns grouped by metric name, one line per folder: ``{'g_loss': {'train': ...}}``."""
    groups: dict[str, dict[str, Mapping[int, float]]] = {}
    for column, values in epochs.items():
        folder, _, name = column.rpartition("/")
        groups.setdefault(name, {})[folder or "run"] = values
    return groups


# ---------------------------------------------------------------------------- HTML

def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _esc(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.4f}".rstrip("0").rstrip(".")


def _link(target: str, base: str, text: str | None = None) -> str:
    """A relative link from the folder ``base`` to ``target`` (text: the file name)."""
    href = os.path.relpath(os.path.abspath(target), os.path.abspath(base)).replace(os.sep, "/")
    return f'<a href="{_esc(href)}">{_esc(text or os.path.basename(target))}</a>'


def _table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """An HTML table in a scrolling box; numbers are right-aligned."""
    def cell(value) -> str:
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return f'<td class="n">{_number(value)}</td>' if numeric else f"<td>{_esc(value)}</td>"
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _card_html(card: dict) -> str:
    """Every entry of the model card: nested dicts as two-column tables."""
    parts = []
    for key, value in card.items():
        if isinstance(value, dict):
            rows = [(k, json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in value.items()]
            parts.append(f"<h3>{_esc(key)}</h3>" + _table(rows, ("name", "value")))
        else:
            shown = json.dumps(value) if isinstance(value, list) else value
            parts.append(f"<p><b>{_esc(key)}</b>: {_esc(shown)}</p>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
            f"<body>\n{body}\n</body></html>\n")


def _saved_files(card: dict | None, card_path: str | None) -> list[str]:
    files = []
    if card and isinstance(card.get("files"), dict):
        files += [p for p in card["files"].values() if isinstance(p, str)]
    if card_path:
        stem = os.path.splitext(card_path)[0]
        files += [card_path] + ([stem + ".md"] if os.path.isfile(stem + ".md") else [])
    return list(dict.fromkeys(files))


def write_report(run_dir: str, card: str | None = None) -> str:
    """Write ``<run_dir>/report.html`` (and its plots in ``<run_dir>/report/``) for one run; see
    the module doc. ``card`` is the run's model card (found as the module doc says when None).
    Returns the page's path."""
    log = read_run(run_dir)
    card_path = find_card(run_dir, card)
    card_data = _read_card(card_path)
    assets = os.path.join(run_dir, ASSETS)
    os.makedirs(assets, exist_ok=True)
    title = f"pix2gan run {log.name}"
    body = [f"<h1>{_esc(title)}</h1>"]
    if card_data:
        body.append(f"<p>{_esc(card_data.get('entry', ''))}: {_esc(card_data.get('summary', ''))}</p>")
    epochs = log.epoch_numbers()
    body.append(f'<p class="muted">{len(epochs)} epoch(s) logged, {len(log.epochs)} per-epoch metric(s), '
                f"{len(log.grids)} sample grid(s); folder {_esc(os.path.abspath(run_dir))}</p>")

    body.append("<h2>Metrics per epoch</h2>")
    if log.epochs:
        columns = sorted(log.epochs)
        rows = [[e] + [log.epochs[c].get(e, "") for c in columns] for e in epochs]
        body.append(_table(rows, ["epoch"] + columns))
    else:
        body.append('<p class="muted">no per-epoch scalars in the event files yet</p>')
    if log.others:
        body.append("<h3>Other logged scalars</h3>")
        body.append(_table(log.others, ("folder", "tag", "step", "value")))

    body.append("<h2>Curves</h2>")
    plots = []
    for name, lines in sorted(_metric_groups(log.epochs).items()):
        path = _plot(os.path.join(assets, f"plot_{_slug(name)}.png"), name, lines)
        plots.append(f'<img src="{_esc(ASSETS)}/{_esc(os.path.basename(path))}" alt="{_esc(name)} per epoch">')
    body.append(f'<div class="plots">{"".join(plots)}</div>' if plots else '<p class="muted">nothing to plot</p>')

    body.append("<h2>Sample grids</h2>")
    if log.grids:
        for i, epoch in enumerate(sorted(log.grids, reverse=True)):
            src = os.path.relpath(log.grids[epoch], run_dir).replace(os.sep, "/")
            width = _png_width(log.grids[epoch])
            size = f' width="{min(2 * width, 1100)}"' if width and width < 550 else ""  # small grids shown at 2x
            image = f'<img src="{_esc(src)}"{size} alt="samples after epoch {epoch}" loading="lazy">'
            body.append(f"<details{' open' if i == 0 else ''}><summary>epoch {epoch}</summary>"
                        f'<div class="grid">{image}</div></details>')
    else:
        body.append('<p class="muted">no sample grids (samples/epoch_NNNN.png) in this run</p>')

    body.append("<h2>Files</h2><ul>")
    for path in _saved_files(card_data, card_path):
        body.append(f"<li>{_link(path, run_dir)}</li>" if os.path.exists(path) else
                    f'<li>{_esc(path)} <span class="muted">(missing)</span></li>')
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path) and name != REPORT_NAME:
            body.append(f"<li>{_link(path, run_dir)}</li>")
    body.append(f'<li>{_link(os.path.join(run_dir, "samples"), run_dir, "samples/")}</li>'
                if os.path.isdir(os.path.join(run_dir, "samples")) else "")
    body.append("</ul>")

    body.append("<h2>Model card</h2>")
    if card_data:
        body.append(f"<p>{_link(card_path, run_dir)}</p>" + _card_html(card_data))
    else:
        body.append(f'<p class="muted">no model card found (none recorded in {_esc(ASSETS)}/run.json, none at '
                    f"models/{_esc(log.name)}_generator.json): the run may still be going; "
                    "pass <code>--card</code> to name it</p>")
    if card_path:
        record = {"card": os.path.relpath(os.path.abspath(card_path), os.path.abspath(assets))}
        atomic_write(os.path.join(assets, "run.json"), text_writer(json.dumps(record, indent=2) + "\n"))
    return atomic_write(os.path.join(run_dir, REPORT_NAME), text_writer(_page(title, "\n".join(body))))


def write_comparison(run_dirs: Sequence[str], output: str | None = None) -> str:
    """Write one page putting the runs in ``run_dirs`` side by side: a plot per metric with a line
    per run (and folder), the last value of every per-epoch metric and each card's final metrics.
    ``output`` defaults to ``compare.html`` in the runs' common parent folder; the plots go to a
    ``<output stem>_plots`` folder beside it. Returns the page's path."""
    if len(run_dirs) < 2:
        raise Pix2GanError(f"--compare needs at least two run folders, got {len(run_dirs)}", argument="run_dirs")
    logs = [read_run(d) for d in run_dirs]
    names = [log.name for log in logs]
    if len(set(names)) < len(names):  # runs of the same name in different log roots
        names = [os.path.relpath(os.path.abspath(d), os.path.commonpath([os.path.abspath(r) for r in run_dirs]))
                 for d in run_dirs]
    if output is None:
        output = os.path.join(os.path.commonpath([os.path.abspath(d) for d in run_dirs]), "compare.html")
    if os.path.isdir(output) or not output.lower().endswith((".html", ".htm")):
        raise Pix2GanError(f"--output {output} must be an .html file name", argument="output")
    base = os.path.dirname(os.path.abspath(output))
    assets = os.path.splitext(os.path.abspath(output))[0] + "_plots"
    os.makedirs(assets, exist_ok=True)
    cards = [_read_card(find_card(d)) for d in run_dirs]

    body = [f"<h1>pix2gan: {len(logs)} runs compared</h1><ul>"]
    for name, log, card in zip(names, logs, cards):
        entry = f" ({_esc(card.get('entry'))})" if card else ""
        report = os.path.join(log.run_dir, REPORT_NAME)
        link = f" {_link(report, base, 'report')}" if os.path.isfile(report) else ""
        body.append(f"<li><b>{_esc(name)}</b>{entry}: {len(log.epoch_numbers())} epoch(s){link}</li>")
    body.append("</ul><h2>Final metrics</h2>")
    finals = [log.final() for log in logs]
    columns = sorted({c for f in finals for c in f})
    rows = [[c] + [f.get(c, "") for f in finals] for c in columns]
    body.append(_table(rows, ["last logged value"] + names) if rows else '<p class="muted">no per-epoch metrics</p>')
    card_metrics = [card.get("metrics", {}) if card else {} for card in cards]
    keys = sorted({k for m in card_metrics for k, v in m.items() if isinstance(v, (int, float))})
    if keys:
        body.append("<h3>Final metrics from the model cards</h3>")
        body.append(_table([[k] + [m.get(k, "") for m in card_metrics] for k in keys], ["metric"] + names))

    body.append("<h2>Curves</h2>")
    groups: dict[str, dict[str, Mapping[int, float]]] = {}
    for name, log in zip(names, logs):
        for metric, lines in _metric_groups(log.epochs).items():
            for folder, values in lines.items():
                groups.setdefault(metric, {})[f"{name} {folder}" if len(lines) > 1 else name] = values
    plots = []
    for metric, lines in sorted(groups.items()):
        path = _plot(os.path.join(assets, f"plot_{_slug(metric)}.png"), metric, lines)
        plots.append(f'<img src="{_esc(os.path.relpath(path, base))}" alt="{_esc(metric)} per epoch">')
    body.append(f'<div class="plots">{"".join(plots)}</div>' if plots else '<p class="muted">nothing to plot</p>')
    return atomic_write(output, text_writer(_page(f"pix2gan: {', '.join(names)}", "\n".join(body))))
