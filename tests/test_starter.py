"""`densecli init`: a valid, commented starter spec that never replaces a file."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from densecli.spec import load_spec

from conftest import CONFIGS, invoke


@pytest.mark.data
def test_init_writes_the_tutorial_network_as_a_valid_commented_spec(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "specs" / "mine.yaml"
    result = invoke(runner, "init", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=")
    assert text.count("#") > 10  # commented
    spec = load_spec(target)
    tutorial = yaml.safe_load((CONFIGS / "pima.yaml").read_text())
    assert spec.name == "mine"
    assert [(layer.units, layer.activation) for layer in spec.model.layers] == [
        (layer["units"], layer["activation"]) for layer in tutorial["model"]["layers"]
    ]
    assert spec.train.epochs == 1500 and spec.train.batch_size == 64
    assert invoke(runner, "validate", str(target)).exit_code == 0


def test_init_refuses_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    target.write_text("keep me\n")
    result = invoke(runner, "init", str(target))
    assert result.exit_code == 2
    assert f"error: {target}: already exists" in result.output
    assert target.read_text() == "keep me\n"


def test_init_defaults_to_experiment_yaml_in_the_current_folder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "init")
    assert result.exit_code == 0, result.output
    first = (tmp_path / "experiment.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=densecli.schema.json"
