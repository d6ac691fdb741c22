"""Two tunes of one study at once. On a folder's own SQLite study.db the second is refused
with one line naming the first (Optuna does not support SQLite from several processes); on a
database server (PostgreSQL, started here for the test) several tunes cooperate as Optuna's
storage is designed to: each trial is trained once, none fails.

The server is a throwaway cluster in a temporary folder (initdb, pg_ctl), listening on
127.0.0.1 only. Without PostgreSQL's programs the test is skipped with the reason, except in
CI (CI=true), where it must run: .ci/run installs them.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import CONFIGS, ROOT, environment, run_densecli

optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.data

SEARCH = {
    "base": str(CONFIGS / "pima.yaml"),
    "name": "together",
    "set": {"train.epochs": 30, "cv.folds": 2},
    "grid": {
        "model.layers.0.units": [4, 8, 12],
        "train.optimizer.learning_rate": {"low": 0.0005, "high": 0.05, "log": True},
    },
}
QUICK = ["--confirm-repeats", "0", "--workers", "1", "--batch", "2", "--pruner", "none"]


def _search_file(folder: Path) -> Path:
    path = folder / "search.yaml"
    path.write_text(yaml.safe_dump(SEARCH, sort_keys=False))
    return path


def _tune(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "densecli", "tune", *args],
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_hold(lock: Path, process: subprocess.Popen[str]) -> None:
    """Until `process` holds the folder (its pid in the lock file)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if lock.is_file() and f"pid {process.pid} " in lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"the first tune never held the folder (exit {process.poll()})")


def test_a_second_tune_on_a_folders_sqlite_study_is_refused(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = run_densecli("tune", str(_search_file(tmp_path)), "--trials", "2", *QUICK,
                         "--runs-dir", str(runs))  # fmt: skip
    assert first.returncode == 0, first.stderr
    (folder,) = runs.iterdir()
    holder = _tune(str(folder), "--resume", "--trials", "6", *QUICK)
    try:
        _wait_for_hold(folder / ".lock", holder)
        second = run_densecli("tune", str(folder), "--resume", "--trials", "6", *QUICK)
        _, err = holder.communicate(timeout=600)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}: pid {holder.pid} on "), lines
    assert "SQLite study.db takes one tune at a time" in lines[0] and "--storage" in lines[0]
    assert holder.returncode == 0, err
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6  # the refused one told none


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_program(name: str) -> str | None:
    """On PATH, else where Debian's postgresql puts it (the newest version)."""
    debian = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return shutil.which(name) or (debian[-1] if debian else None)


@contextlib.contextmanager
def _postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1; its URL. As root, it runs as the
    `postgres` user (the server refuses root)."""
    initdb, pg_ctl = _postgres_program("initdb"), _postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        reason = "no PostgreSQL server programs (initdb, pg_ctl): apt-get install postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run this test: {reason}")
        pytest.skip(reason)
    home = Path(tempfile.mkdtemp(prefix="densecli-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = home / "data", home / "server.log"
    with socket.socket() as probe:  # a free port; the server takes it a moment later
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "densecli",
                        "--no-sync"], check=True, capture_output=True, timeout=120)  # fmt: skip
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w",
                        "start"], check=True, capture_output=True, timeout=120)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        shutil.rmtree(home, ignore_errors=True)
        text = log.read_text() if log.is_file() else getattr(err, "stderr", b"").decode()
        reason = f"PostgreSQL could not be started here: {text.strip()[-500:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run this test: {reason}")
        pytest.skip(reason)
    try:
        yield f"postgresql+psycopg://densecli@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    pytest.importorskip("psycopg")
    with _postgres_server() as url:
        yield url


def test_tunes_of_one_study_on_postgresql_share_its_trials(postgres: str, tmp_path: Path) -> None:
    search = str(_search_file(tmp_path))
    trials = 8
    machines = [tmp_path / f"machine-{n}" for n in (1, 2)]  # as if on two machines
    common = ["--trials", str(trials), "--storage", postgres, *QUICK]
    tunes = [_tune(search, *common, "--runs-dir", str(runs)) for runs in machines]
    ended = [tune.communicate(timeout=900) for tune in tunes]
    for tune, (_, err) in zip(tunes, ended, strict=True):
        assert tune.returncode == 0, err
        assert "Traceback" not in err
    (name,) = optuna.get_all_study_names(storage=postgres)
    study = optuna.load_study(study_name=name, storage=postgres)
    states = [t.state.name for t in study.trials]
    assert len(states) >= trials and set(states) == {"COMPLETE"}, states  # none failed
    trained = _runs_by_trial(tmp_path)
    assert sorted(trained) == sorted(t.number for t in study.trials)  # each trial trained once
    assert all(len(folders) == 1 for folders in trained.values()), trained
    for machine in ("machine-1", "machine-2"):  # both took part
        assert _runs_by_trial(tmp_path / machine), f"{machine} trained no trial"


def _runs_by_trial(root: Path) -> dict[int, list[Path]]:
    """Each trial's finished run folders, in any tune folder under `root`."""
    found: dict[int, list[Path]] = {}
    for run in root.glob("**/*-tune/*-t[0-9][0-9][0-9][0-9]-cv"):
        number = int(run.name.rsplit("-t", 1)[1][:4])
        found.setdefault(number, []).append(run)
    return found


def test_optuna_dashboard_opens_a_tunes_study(tmp_path: Path) -> None:
    """`optuna-dashboard sqlite:///…/study.db` (docs/tune.md): its WSGI app on a tune's
    storage answers with the study."""
    pytest.importorskip("optuna_dashboard")
    from optuna_dashboard import wsgi

    runs = tmp_path / "runs"
    done = run_densecli("tune", str(_search_file(tmp_path)), "--trials", "2", *QUICK,
                        "--runs-dir", str(runs))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (folder,) = runs.iterdir()
    app = wsgi(f"sqlite:///{folder / 'study.db'}")
    status, body = _get(app, "/api/studies")
    assert status.startswith("200"), status
    studies = yaml.safe_load(body)  # JSON is YAML
    assert [s["study_name"] for s in studies["study_summaries"]] == [folder.name]
    study_id = studies["study_summaries"][0]["study_id"]
    status, body = _get(app, f"/api/studies/{study_id}")
    assert status.startswith("200"), status
    assert len(yaml.safe_load(body)["trials"]) == 2


def _get(app: Any, path: str) -> tuple[str, str]:
    """One GET through a WSGI app, no server."""
    answer: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        answer["status"] = status

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr}  # fmt: skip
    body = b"".join(app(environ, start_response)).decode()
    return answer["status"], body
