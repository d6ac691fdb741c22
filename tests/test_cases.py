"""The bad-input corpus: every file under tests/cases/ must fail with its one-line message."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import CONFIGS, invoke

CASES = Path(__file__).parent / "cases"
EXPECTED: dict[str, Any] = yaml.safe_load((CASES / "expected.yaml").read_text())
# Cases refused only once the Pima file is read (its shape and targets, Keras names, memory,
# runs folders, training): `data` tests. The others are refused before any data is needed.
AFTER_THE_DATA = {
    "activation-params-unsupported.yaml",
    "categorical-one-unit.yaml",
    "diverging-loss",
    "initializer-bad-scale",
    "input-dim-mismatch.yaml",
    "learning-rate-integer.yaml",
    "memory-cv",
    "memory-sweep",
    "memory-train",
    "memory-validate",
    "momentum-out-of-range",
    "runs-dir-is-a-file",
    "runs-dir-under-a-file",
    "softmax-one-unit.yaml",
    "sweep-ray-unreachable",
    "target-index-out-of-range.yaml",
    "target-missing-column.yaml",
    "three-units-two-classes.yaml",
    "train-rows-too-many.yaml",
    "unknown-activation.yaml",
    "unknown-initializer.yaml",
    "unknown-loss.yaml",
    "unknown-optimizer.yaml",
    "zero-as-missing-unknown.yaml",
    # issue 19: columns resolved against the Pima file's names
    "drop-everything.yaml",
    "drop-twice.yaml",
    "drop-unknown.yaml",
    "features-empty.yaml",
    "features-index-out-of-range.yaml",
    "features-target.yaml",
    # issue 22: a tune's storage is reached once its points are valid
    "storage-readonly.db",
    "tune-resume-storage-added",
    "tune-resume-study-missing",
    "tune-resume-study-truncated",
    "tune-storage-unreachable",
    "tune-storage-unwritable",
    # issue 23: nested tunes' outer folds, made from the Pima file's classes
    "tune-nested-too-many",
    "tune-nested-folder",
}


def _needs_data(case: str) -> bool:
    """Refused after the Pima file is read, or scored by a run trained on it (predict)."""
    expectation = EXPECTED[case]
    predicts = isinstance(expectation, dict) and expectation.get("command") == "predict"
    return case in AFTER_THE_DATA or predicts


@pytest.fixture(scope="module")
def pima_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Pima run for the `command: predict` cases (two epochs: only its columns matter)."""
    runs = tmp_path_factory.mktemp("case-run")
    config = str(CONFIGS / "pima.yaml")
    result = invoke(
        CliRunner(), "train", config, "--set", "train.epochs=2", "--runs-dir", str(runs)
    )
    assert result.exit_code == 0, result.output
    (run,) = runs.iterdir()
    return run


def _command(case: str, expectation: Any, runs: Path) -> tuple[list[str], str]:
    if isinstance(expectation, dict):
        command = expectation.get("command", "validate")
        if command == "predict":  # the input file is the case; the run comes from the fixture
            return [
                "predict",
                "{run}",
                str(CASES / case),
                "-o",
                str(runs / "out.csv"),
            ], expectation["error"]
        if command == "init":
            args = [a.replace("{cases}", str(CASES)) for a in expectation["args"]]
            return ["init", str(runs / "spec.yaml"), *args], expectation["error"]
        config = (
            expectation.get("config", str(CONFIGS / "pima.yaml"))
            .replace("{cases}", str(CASES))
            .replace("{runs}", str(runs))
        )
        args = [
            a.replace("{cases}", str(CASES)).replace("{runs}", str(runs))
            for a in expectation["args"]
        ]
        if command in ("train", "cv", "sweep", "tune"):
            args += [] if "--runs-dir" in args else ["--runs-dir", str(runs)]
        return [command, config, *args], expectation["error"]
    if case.endswith(".csv"):
        return ["validate", str(CONFIGS / "pima.yaml"), "--data", str(CASES / case)], expectation
    return ["validate", str(CASES / case)], expectation


def test_every_case_file_has_an_expectation() -> None:
    cases = [p for p in CASES.iterdir() if p.suffix in {".yaml", ".csv", ".db"} or p.is_dir()]
    files = {p.name for p in cases} - {"expected.yaml"}
    assert files <= set(EXPECTED), f"cases without an expected message: {files - set(EXPECTED)}"
    assert len(EXPECTED) >= 40
    assert not AFTER_THE_DATA - set(EXPECTED), AFTER_THE_DATA - set(EXPECTED)


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, marks=pytest.mark.data) if _needs_data(case) else case
     for case in sorted(EXPECTED)],
)  # fmt: skip
def test_bad_input_gives_a_one_line_error(
    case: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runs = tmp_path / "runs"
    args, message = _command(case, EXPECTED[case], runs)
    if "{run}" in args:
        args = [str(request.getfixturevalue("pima_run")) if a == "{run}" else a for a in args]
    result = invoke(CliRunner(), *args)
    expected_exit = EXPECTED[case].get("exit", 2) if isinstance(EXPECTED[case], dict) else 2
    assert result.exit_code == expected_exit, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    if expected_exit == 2:  # refused before any training: nothing but the error lines
        assert all(line.startswith("error: ") for line in lines), lines
        assert not runs.exists() or not any(runs.iterdir())  # no run or sweep folder begun
    else:  # a failed training keeps no result: at most a folder marked failed
        assert all(p.name.endswith(".failed") for p in runs.iterdir())
