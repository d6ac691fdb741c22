"""Run folders under stress: real signals mid-training, concurrent writers, bad runs folders."""

import gc
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densecli.errors import RunsError
from densecli.runs import RunFolder, collect_unfinished, estimate_bytes, preflight
from densecli.runs.files import write_json

from conftest import CONFIGS, ROOT, invoke, start_densecli


def _wait_until_training(process: subprocess.Popen[str], runs_dir: Path) -> None:
    """Until this process's scratch run has journaled two epochs (its pid is in the name)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for journal in runs_dir.glob(f".*.pid{process.pid}.*/history.csv"):
            if journal.read_text().count("\n") >= 3:
                return
        time.sleep(0.1)
    process.kill()
    pytest.fail("training did not start within 180 s")


def _long_cv(runs_dir: Path, engine: str) -> subprocess.Popen[str]:
    return start_densecli(
        "cv",
        str(CONFIGS / "pima.yaml"),
        "--folds",
        "2",
        "--set",
        "train.epochs=2000",
        "--engine",
        engine,
        "--runs-dir",
        str(runs_dir),
    )


@pytest.mark.data
def test_signals_mid_run_leave_marked_history_or_nothing_that_compare_counts(
    runner: CliRunner, runs_dir: Path
) -> None:
    kills = {signal.SIGINT: "fit", signal.SIGTERM: "compiled", signal.SIGKILL: "fit"}
    processes = {signum: _long_cv(runs_dir, engine) for signum, engine in kills.items()}
    for signum, process in processes.items():
        _wait_until_training(process, runs_dir)
        process.send_signal(signum)
    outcomes = {signum: p.communicate(timeout=120) for signum, p in processes.items()}

    assert processes[signal.SIGINT].returncode == 130, outcomes[signal.SIGINT]
    assert processes[signal.SIGTERM].returncode == 143, outcomes[signal.SIGTERM]
    assert processes[signal.SIGKILL].returncode == -signal.SIGKILL
    kept = sorted(p for p in runs_dir.iterdir() if not p.name.startswith("."))
    assert len(kept) == 2 and all(p.name.endswith(".interrupted") for p in kept), kept
    for signum in (signal.SIGINT, signal.SIGTERM):
        stderr = outcomes[signum][1]
        assert f"interrupted ({signum.name}): the history so far is kept in" in stderr
        assert "Traceback" not in stderr
        folder = Path(stderr.split("kept in ")[1].split(";")[0])
        assert folder in kept
        status = json.loads((folder / "status.json").read_text())
        assert status["status"] == "interrupted" and status["reason"] == f"stopped by {signum.name}"
        assert 2 <= status["epochs_done"] < 2000
        history = (folder / "history.csv").read_text().splitlines()
        assert history[0].startswith("job,epoch,") and len(history) > 2
        assert not (folder / "metrics.json").exists()
    # kill -9 cannot clean up: its hidden scratch folder stays, and is never a result.
    leftovers = [p for p in runs_dir.iterdir() if p.name.startswith(".")]
    assert [p.name for p in leftovers] == [
        p.name for p in leftovers if f".pid{processes[signal.SIGKILL].pid}." in p.name
    ]
    assert len(leftovers) == 1

    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=1",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 0, result.output
    compared = invoke(runner, "compare", str(runs_dir))
    assert compared.exit_code == 0, compared.output
    assert "warning" not in compared.output
    results = (runs_dir / "compare.csv").read_text().splitlines()[1:]
    assert len(results) == 1 and ".interrupted" not in results[0]
    apart = (runs_dir / "compare.md").read_text().split("## Not results")[1]
    assert apart.count("| interrupted |") == 2 and apart.count("| abandoned |") == 1


@pytest.mark.data
def test_four_concurrent_trainings_into_one_folder_each_get_a_complete_run(
    runner: CliRunner, runs_dir: Path
) -> None:
    args = ["train", str(CONFIGS / "pima.yaml"), "--set", "train.epochs=2"]
    processes = [start_densecli(*args, "--runs-dir", str(runs_dir)) for _ in range(4)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    runs = sorted(runs_dir.iterdir())
    assert len(runs) == 4 and not any(p.name.startswith(".") for p in runs), runs
    for run in runs:
        assert {"config.yaml", "metrics.json", "history.csv", "model.keras"} <= {
            p.name for p in run.iterdir()
        }
    compared = invoke(runner, "compare", str(runs_dir))
    assert compared.exit_code == 0, compared.output
    assert len((runs_dir / "compare.csv").read_text().splitlines()) == 1 + 4


def test_runs_finishing_under_one_name_never_overwrite_each_other(tmp_path: Path) -> None:
    folders = [RunFolder(tmp_path, "same", "split") for _ in range(3)]
    for number, folder in enumerate(folders):
        folder.base_name = "20990101-000000-same-split"  # as if all three finished at once
        write_json(folder.file("metrics.json"), {"n": number})
    finished = [folder.finish() for folder in folders]
    assert [p.name for p in finished] == [
        "20990101-000000-same-split",
        "20990101-000000-same-split-2",
        "20990101-000000-same-split-3",
    ]
    assert [json.loads((p / "metrics.json").read_text())["n"] for p in finished] == [0, 1, 2]


@pytest.mark.data
@pytest.mark.parametrize(
    ("where", "reason"),
    [("a-file", "File exists"), ("a-file/runs", "Not a directory")],
)
def test_an_unusable_runs_folder_fails_before_training(
    runner: CliRunner, tmp_path: Path, where: str, reason: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = invoke(
        runner, "train", str(CONFIGS / "pima.yaml"), "--runs-dir", str(tmp_path / where)
    )
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / where}: cannot write run records here ({reason})" in result.output
    assert result.output.startswith("error: ")  # no progress bar: training never started


@pytest.mark.data
@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_runs_folder_fails_before_training(runner: CliRunner, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o500)
    result = invoke(runner, "train", str(CONFIGS / "pima.yaml"), "--runs-dir", str(runs))
    assert result.exit_code == 2, result.output
    assert "cannot write run records here (Permission denied)" in result.output


def test_a_runs_folder_without_room_is_refused_with_the_sizes(tmp_path: Path) -> None:
    needed = estimate_bytes([8, 12, 8, 1], models=10, epochs=1500, eval_rows=768)
    assert 1_000_000 < needed < 20_000_000  # ten small models and their history
    preflight(tmp_path / "runs", needed)  # creates the folder; this disk has room
    with pytest.raises(RunsError, match=r"MB free, and this run needs about .* MB"):
        preflight(tmp_path / "runs", 2**62)
    assert list((tmp_path / "runs").iterdir()) == []  # the probe file is gone


@pytest.mark.data
def test_a_missing_runs_folder_is_created(runner: CliRunner, tmp_path: Path) -> None:
    runs = tmp_path / "new" / "runs"
    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=1",
        "--runs-dir",
        str(runs),
    )
    assert result.exit_code == 0, result.output
    assert len(list(runs.iterdir())) == 1


@pytest.mark.data
def test_a_disk_that_fills_up_mid_run_leaves_nothing_and_one_error_line(tmp_path: Path) -> None:
    def small_files_only() -> None:  # in the child: writes past 8 KB fail as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))

    runs = tmp_path / "runs"
    train = [
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=1",
        "--runs-dir",
        str(runs),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "densecli", *train],
        capture_output=True,
        text=True,
        cwd=ROOT,
        preexec_fn=small_files_only,
    )
    assert done.returncode == 2, done.stderr
    assert f"error: {runs}: cannot write the run records (File too large)" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(runs.iterdir()) == []


def test_a_scratch_folder_nobody_finished_is_removed_but_a_finished_run_stays(
    tmp_path: Path,
) -> None:
    dropped, finished = RunFolder(tmp_path, "a", "split"), RunFolder(tmp_path, "b", "split")
    scratch = dropped.path
    final = finished.finish()
    del dropped, finished
    gc.collect()
    assert not scratch.exists() and final.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == [final.name]


def test_compare_tells_a_live_writer_from_a_dead_one(tmp_path: Path) -> None:
    (tmp_path / f".20990101-000000-live-cv.pid{os.getpid()}.abc").mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / f".20990101-000000-dead-cv.pid{dead.stdout.strip()}.abc").mkdir()
    (tmp_path / ".cache").mkdir()  # not a run at all
    listed = collect_unfinished(tmp_path)
    assert [(u.run.split("-")[2], u.status) for u in listed] == [("dead", "abandoned")]


def test_compare_shows_the_best_50_and_writes_every_run(runner: CliRunner, tmp_path: Path) -> None:
    config = "name: many\ntrain: {epochs: 1, batch_size: 8}\nmodel: {layers: [{units: 1}]}\n"
    for i in range(55):
        run = tmp_path / f"20990101-0000{i:02d}-many-split"
        run.mkdir()
        (run / "config.yaml").write_text(config)
        metrics = {"mode": "split", "accuracy": i / 100, "baseline_accuracy": 0.5}
        (run / "metrics.json").write_text(json.dumps({**metrics, "train_seconds": 1.0}))
    result = invoke(runner, "compare", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Showing the first 50 of 55 runs" in result.output
    assert len((tmp_path / "compare.csv").read_text().splitlines()) == 1 + 55


@pytest.mark.parametrize(
    ("accuracy", "shown"), [("1e300", "1e+300"), ("NaN", "nan"), ("-0.5", "-0.5")]
)
def test_compare_skips_a_run_whose_accuracy_is_impossible(
    runner: CliRunner, tmp_path: Path, accuracy: str, shown: str
) -> None:
    config = "name: odd\ntrain: {epochs: 1, batch_size: 8}\nmodel: {layers: [{units: 1}]}\n"
    for name, value in (
        ("20990101-000001-odd-split", accuracy),
        ("20990101-000002-ok-split", "0.7"),
    ):
        run = tmp_path / name
        run.mkdir()
        (run / "config.yaml").write_text(config)
        fields = f'"accuracy": {value}, "baseline_accuracy": 0.5, "train_seconds": 1'
        (run / "metrics.json").write_text(f'{{"mode": "split", {fields}}}')
    result = invoke(runner, "compare", str(tmp_path), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {tmp_path / '20990101-000001-odd-split'}: skipped, unreadable run record "
        f"(ValueError: metrics.json: accuracy is {shown}, outside its possible range [0, 1])"
    ) in result.stderr
    ranked = result.stdout.splitlines()[1:]
    assert len(ranked) == 1 and ranked[0].startswith("20990101-000002-ok-split")


def test_a_signal_held_back_by_finish_leaves_the_finished_run_alone(tmp_path: Path) -> None:
    """finish() defers SIGINT/SIGTERM until the rename is done, then raises it: the caller's
    clean-up must not mark the run, now in place, as interrupted too."""
    from densecli.runs import StoppedRun
    from densecli.signals import Interrupted

    folder = RunFolder(tmp_path, "done", "cv")
    history = [{"job": "fold01", "epoch": 1, "loss": 0.5, "accuracy": 0.7}]
    write_json(folder.file("metrics.json"), {"accuracy": 0.7})
    final = folder.finish()
    folder.keep_unfinished(StoppedRun(history, 5, 1, 1), Interrupted(signal.SIGTERM))
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]
    assert (final / "metrics.json").is_file()


def test_run_folders_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        folder = RunFolder(tmp_path, "shared", "split")
        final = folder.finish()
    finally:
        os.umask(previous)
    assert final.stat().st_mode & 0o777 == 0o750  # not mkdtemp's 0700


def _fake_run(runs: Path, name: str, accuracy: float) -> None:
    run = runs / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(
        "name: x\ntrain: {epochs: 1, batch_size: 8}\nmodel: {layers: [{units: 1}]}\n"
    )
    metrics = {"mode": "cv", "accuracy": accuracy, "accuracy_std": 0.0123}
    metrics |= {"baseline_accuracy": 0.651, "reported_best_accuracy": 0.777, "train_seconds": 1}
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_compare_fits_80_columns_with_full_run_names(tmp_path: Path) -> None:
    names = ["20990101-000001-pima-tutorial-p001-cv", "20990101-000002-a-longer-spec-name-cv"]
    for i, name in enumerate(names):
        _fake_run(tmp_path, name, 0.7 + i / 100)
    env = {**os.environ, "COLUMNS": "80"}
    narrow = subprocess.run(
        [sys.executable, "-m", "densecli", "compare", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    table = narrow.split("baseline:")[0]
    assert max(len(line) for line in table.splitlines()) <= 80, table
    assert all(name in table for name in names) and "…" not in table
    assert "Δ base" in table and "71.00 ± 1.23" in table and "AUC" not in table
    shown = subprocess.run(
        [sys.executable, "-m", "densecli", "show", str(tmp_path / names[0])],
        capture_output=True,
        text=True,
        env=env,
    )
    # The name in the table is the folder show takes (a fake run: found, but has no model).
    assert "no such run folder" not in shown.stderr and "model.keras is missing" in shown.stderr
    wide = subprocess.run(
        [sys.executable, "-m", "densecli", "compare", str(tmp_path), "--wide"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert "AUC" in wide and "train s" in wide and "vs baseline (pts)" in wide
