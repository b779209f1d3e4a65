"""The JSON beside each built-in TOML data file (``catalogs.compiled``) holds exactly what the TOML says."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from catalogs import compiled

DATA = Path(compiled.__file__).with_name("data")


@pytest.mark.parametrize("name", compiled.COMPILED_FILES)
def test_compiled_json_is_the_toml_parsed(name):
    text = (DATA / name).read_text(encoding="utf-8")
    entry = json.loads((DATA / (name + ".json")).read_text(encoding="utf-8"))
    assert entry["sha256"] == compiled._digest(text), f"catalogs/data/{name} changed: run python -m catalogs.compiled"
    assert entry["data"] == tomllib.loads(text)
    assert compiled.builtin_data(name) == tomllib.loads(text)


def test_a_stale_compiled_file_is_not_read(tmp_path, monkeypatch):
    """After an edit of the TOML (and before the JSON is written again) the TOML itself is parsed."""
    for name in compiled.COMPILED_FILES:
        (tmp_path / name).write_text((DATA / name).read_text(encoding="utf-8"), encoding="utf-8")
    compiled.compile_all(tmp_path)
    gpus = tmp_path / "gpus.toml"
    gpus.write_text(gpus.read_text(encoding="utf-8") + '\n[gpu.edited-after-compiling]\nnote = "x"\n', encoding="utf-8")
    monkeypatch.setattr(compiled, "_data_dir", lambda: tmp_path)
    assert "edited-after-compiling" in compiled.builtin_data("gpus.toml")["gpu"]
    assert "edited-after-compiling" not in json.loads((tmp_path / "gpus.toml.json").read_text())["data"]["gpu"]
