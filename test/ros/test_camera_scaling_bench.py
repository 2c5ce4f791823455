"""``bench-cameras`` end to end, short: two cameras through real node processes and a real player process."""

from __future__ import annotations

from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.benchmarks.camera_scaling import SearchSettings  # noqa: E402
from edge_ai_ros.benchmarks.camera_scaling_report import CaseResult  # noqa: E402
from edge_ai_ros.errors import ConfigError  # noqa: E402
from edge_ai_ros.ros.drivers.camera_scaling_bench import ScalingConfig, case_order, run_scaling  # noqa: E402

RATE_HZ = 10.0
RUN_S = 2.0


def _run(mode: str, tmp_path: Path) -> CaseResult:
    config = ScalingConfig(cameras=(2,), modes=(mode,), fixed_rates_hz=(RATE_HZ,), fixed_s=RUN_S, trial_s=1.0,
                           search=SearchSettings(low_hz=2.0, high_hz=RATE_HZ, steps=0, max_expansions=0),
                           width=160, height=120, manifest=str(build_detector(tmp_path / "model")),
                           backend="onnxruntime", log_dir=tmp_path / "logs")
    [case] = run_scaling(config)
    return case


def _check_served(case: CaseResult, processes: int) -> None:
    assert not case.error, case.error
    assert case.processes == processes
    [run] = case.fixed
    s = run.summary
    assert s.rate_hz == RATE_HZ and s.sent == 2 * round(RATE_HZ * RUN_S)
    assert set(s.per_camera) == {"cam0", "cam1"}
    for name, cam in s.per_camera.items():  # each camera's answers came back on its own topic
        assert cam.answered >= cam.sent // 2, name  # best effort on a shared machine; not a rate test
        assert cam.latency_ms.p50 > 0
    assert s.answered + s.dropped == s.sent
    assert run.cpu_ms_per_frame > 0 and case.peak_rss_mb >= case.end_rss_mb > 0 and case.end_pss_mb >= 0
    assert case.peak is not None and len(case.peak.trials) >= 1 and case.peak.trials[0].rate_hz == RATE_HZ


@pytest.mark.ros
def test_two_single_camera_nodes_each_answer_their_camera(tmp_path: Path) -> None:
    case = _run("single", tmp_path)
    assert not case.skipped
    _check_served(case, processes=2)
    counts = case.fixed[0].node_counts  # the two nodes' /diagnostics counters, summed over the run
    assert counts.get("frames_in", 0) >= case.fixed[0].summary.answered


@pytest.mark.ros
def test_one_batched_node_answers_both_cameras(tmp_path: Path) -> None:
    case = _run("batched", tmp_path)
    if case.skipped:  # decided by the running node's declared parameters
        pytest.skip(case.skipped)
    _check_served(case, processes=1)
    counts = case.fixed[0].node_counts
    assert any("cam1" in key and "received" in key for key in counts), sorted(counts)


def test_modes_alternate_which_goes_first_from_one_camera_count_to_the_next() -> None:
    order = case_order(ScalingConfig(cameras=(1, 2, 4)))
    assert order == [(1, "batched"), (1, "single"), (2, "single"), (2, "batched"), (4, "batched"), (4, "single")]


@pytest.mark.parametrize(("kwargs", "match"), [({"cameras": (0, 2)}, "cameras"), ({"modes": ("fused",)}, "modes"),
                                               ({"fixed_rates_hz": (30.0, 0.0)}, "durations")])
def test_bad_config_is_refused_naming_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ScalingConfig(**kwargs)  # type: ignore[arg-type]
