"""bench/run.py: a smoke run of one cheap entry gives every column of the table and the JSON, with
finite numbers (fast tier: about 15 s on 2 cores)."""
import json
import math
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_run_gives_every_column(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, os.path.join(REPO, "bench", "run.py"), "--quick", "--only", "gan-mnist",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sys.path.insert(0, REPO)
    from bench.run import COLUMNS, REQUIRED, finite_row

    report = json.loads(out.read_text())
    assert report["matmul_flops"]["float32"] > 0
    (row,) = report["entries"]
    assert row["entry"] == "gan-mnist" and "error" not in row
    assert finite_row(row), {k: row.get(k) for k in REQUIRED}
    # gan-mnist is an MLP GAN: the empty-step overhead is measured too
    assert math.isfinite(row["empty_ms"]) and row["empty_ms"] > 0
    if "bf16_skipped" not in row:  # bf16 columns exist wherever the machine runs bf16 natively
        assert all(math.isfinite(row[k]) for k in ("bf16_ms", "bf16_ratio", "inf1_bf16", "inf16_bf16", "mm_bf16"))
    # the printed table has every column, and this entry's row fills it
    header = next(line for line in done.stdout.splitlines() if line.startswith("| entry |"))
    assert [c.strip() for c in header.strip("|").split("|")] == [h for h, _, _ in COLUMNS]
    line = next(line for line in done.stdout.splitlines() if line.startswith("| gan-mnist |"))
    assert len(line.strip("|").split("|")) == len(COLUMNS)


def test_soak_reads_memory_and_traces_of_a_training_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Recipe.train's default folders
    sys.path.insert(0, REPO)
    from bench.run import table
    from bench.soak import COLUMNS, EPOCHS, soak

    row = soak("gan-mnist", 100, None, {"fid_every": 0, "eval_samples": 0})
    assert row["entry"] == "gan-mnist" and row["steps"] == 100
    # the probe wrapped train_step before fit() made its train function: one trace, none after
    assert row["first_traces"] == 1 and row["retraces"] == 0 and len(row["traces_by_epoch"]) == EPOCHS
    assert len(row["rss_by_epoch"]) == EPOCHS and 100 < row["rss_e1_mb"] <= row["rss_max_mb"]
    assert row["rss_e6_mb"] == row["rss_by_epoch"][5] and row["rss_end_mb"] == row["rss_by_epoch"][-1] <= row["rss_max_mb"]
    assert math.isfinite(row["rss_slope_2nd_half_mb_per_1k"]) and row["step_ms"] > 0
    line = table([row], COLUMNS).splitlines()[-1]
    assert line.startswith("| gan-mnist | its own |") and len(line.strip("|").split("|")) == len(COLUMNS)
