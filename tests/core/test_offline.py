"""kbqa goes offline once, when ``core`` is imported: before any model loads, in every process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

IMPORT_CORE = "import os, core; print(os.environ.get('HF_HUB_OFFLINE'))"


def _after_importing_core(env: dict[str, str]) -> str:
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_CORE], env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


@pytest.mark.parametrize(("given", "kept"), [(None, "1"), ("0", "0"), ("1", "1")])
def test_importing_core_sets_hf_hub_offline_unless_it_is_set(given: str | None, kept: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    if given is not None:
        env["HF_HUB_OFFLINE"] = given
    assert _after_importing_core(env) == kept


def test_openvino_sends_no_telemetry_from_a_kbqa_process() -> None:
    """OpenVINO's tools send usage events on import and at each conversion, unless a consent
    file in the home folder says no; without a network, the sender held ``kbqa ask`` open at
    its exit. After ``core``, OpenVINO finds no telemetry package and uses its stub."""
    script = (
        "import core, openvino, sys; from openvino.tools.ovc import convert_impl; "
        "print(convert_impl.tm.__name__, 'openvino_telemetry' in sys.modules and "
        "sys.modules['openvino_telemetry'] is not None)"
    )
    pytest.importorskip("openvino")
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "False"]
