"""The bad-input corpus: every file under tests/cases/ must fail with its one-line message."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import CONFIGS, invoke

CASES = Path(__file__).parent / "cases"
EXPECTED: dict[str, Any] = yaml.safe_load((CASES / "expected.yaml").read_text())


def _command(case: str, expectation: Any) -> tuple[list[str], str]:
    if isinstance(expectation, dict):
        config = expectation.get("config", str(CONFIGS / "pima.yaml"))
        return ["validate", config, *expectation["args"]], expectation["error"]
    if case.endswith(".csv"):
        return ["validate", str(CONFIGS / "pima.yaml"), "--data", str(CASES / case)], expectation
    return ["validate", str(CASES / case)], expectation


def test_every_case_file_has_an_expectation() -> None:
    files = {p.name for p in CASES.iterdir() if p.suffix in {".yaml", ".csv"}} - {"expected.yaml"}
    assert files <= set(EXPECTED), f"cases without an expected message: {files - set(EXPECTED)}"
    assert len(EXPECTED) >= 40


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_gives_a_one_line_error(case: str) -> None:
    args, message = _command(case, EXPECTED[case])
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
