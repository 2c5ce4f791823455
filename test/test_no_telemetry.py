"""Nothing in the serving stack may talk to the network.

`import openvino` resolves and contacts an analytics host through openvino-telemetry when
that package is installed (seen here with strace). The setup removes it; OpenVINO's tools
then use their built-in no-op stub.
"""

from __future__ import annotations

import importlib.util

import pytest


def test_openvino_telemetry_is_not_installed() -> None:
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed in this environment")
    assert importlib.util.find_spec("openvino_telemetry") is None, (
        "openvino-telemetry is installed: run `pip uninstall openvino-telemetry` (make setup does)"
    )
