"""The wheel holds the product, and no benchmark, dataset builder or test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_architecture import BELOW

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = set(BELOW) - {"benchmarks"}


def _source(tmp_path: Path) -> Path:
    """A copy of what a wheel is built from, benchmarks/ included, so that listing it in
    pyproject.toml would show; the build writes into the copy, not the checkout."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "data")
    for package in (*BELOW, "tests"):
        shutil.copytree(ROOT / package, source / package, ignore=skip)
    return source


@pytest.mark.slow  # pip builds the wheel: several seconds
def test_the_wheel_holds_the_product_packages_and_no_benchmarks(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path / "dist"), str(_source(tmp_path))], check=True)
    (wheel,) = (tmp_path / "dist").glob("kbqa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if "/" in name}
    assert {t for t in top if not t.endswith(".dist-info")} == PRODUCT
    assert not [name for name in names if "benchmarks" in name.split("/")[0]]
