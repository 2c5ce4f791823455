"""Architecture rules that imports must keep (docs/ARCHITECTURE.md).

The layers, the absence of cycles and the rclpy/torch bans are import-linter contracts
(.importlinter, run by `make lint`); they count every import statement, function-level and
TYPE_CHECKING ones included. Here:

- the contracts hold, and import-linter does see an import made inside a function;
- no module outside edge_ai_ros/ros/ names the generated interfaces (edge_ai_ros.msg/srv/action)
  in any import statement (import-linter cannot see them: rosidl installs them elsewhere);
- what actually loads at import time: every module outside ros/ imports in a fresh interpreter
  where rclpy and the interfaces are blocked, the serving path imports with torch blocked, and
  backends import their runtime lazily (importing them loads no onnxruntime/openvino/tensorrt/torch).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from ros_harness import REPO_ROOT, make_ros_env

PACKAGE_DIR = REPO_ROOT / "edge_ai_ros"
ROS_BLOCKED = (
    "rclpy", "rosidl_runtime_py", "rosidl_parser", "edge_ai_ros.msg", "edge_ai_ros.srv", "edge_ai_ros.action",
    "std_msgs", "sensor_msgs", "builtin_interfaces", "diagnostic_msgs", "lifecycle_msgs", "std_srvs",
    "action_msgs", "rcl_interfaces", "vision_msgs",
)
GENERATED_INTERFACES = ("edge_ai_ros.msg", "edge_ai_ros.srv", "edge_ai_ros.action")
TORCH_BLOCKED = ("torch", "torchvision", "torch_pruning", "safetensors.torch")
RUNTIMES = ("onnxruntime", "openvino", "tensorrt", "torch")
# The serving path (docs/ARCHITECTURE.md); engines/torch_backend.py is the reference path, not serving.
SERVING_PREFIXES = ("edge_ai_ros.imaging", "edge_ai_ros.preprocess", "edge_ai_ros.engines", "edge_ai_ros.decoders",
                    "edge_ai_ros.pipeline", "edge_ai_ros.serving", "edge_ai_ros.ros")
NOT_SERVING = ("edge_ai_ros.engines.torch_backend",)

# Runs in a fresh interpreter: block some top-level names, import each module, report as JSON.
PROBE = r"""
import importlib, importlib.abc, json, sys, traceback

blocked, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if any(fullname == name or fullname.startswith(name + ".") for name in blocked):
            raise ModuleNotFoundError(f"{fullname} is blocked by test_import_boundaries", name=fullname)
        return None

sys.meta_path.insert(0, Blocker())
report = {}
for module in modules:
    before = set(sys.modules)
    try:
        importlib.import_module(module)
    except BaseException:
        report[module] = {"error": traceback.format_exc(limit=6)}
    else:
        report[module] = {"loaded": sorted({m.split(".")[0] for m in set(sys.modules) - before})}
print("REPORT" + json.dumps(report))
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> list[str]:
    """Every module in the source tree (walked on disk, so nothing is imported to find them)."""
    paths = (p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(module_name(p) for p in paths)


def is_ros_adapter(module: str) -> bool:
    return module == "edge_ai_ros.ros" or module.startswith("edge_ai_ros.ros.")


def is_serving(module: str) -> bool:
    in_path = any(module == p or module.startswith(p + ".") for p in SERVING_PREFIXES)
    return in_path and module not in NOT_SERVING


def probe(blocked: tuple[str, ...], modules: list[str]) -> dict[str, dict[str, object]]:
    """Import ``modules`` one after another in a fresh interpreter with ``blocked`` names blocked."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(blocked), json.dumps(modules)],
        env=make_ros_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("REPORT")), None)
    assert line is not None, f"probe interpreter failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    report: dict[str, dict[str, object]] = json.loads(line[len("REPORT"):])
    return report


@cache
def without_ros() -> dict[str, dict[str, object]]:
    return probe(ROS_BLOCKED, [m for m in package_modules() if not is_ros_adapter(m)])


@cache
def without_torch() -> dict[str, dict[str, object]]:
    rclpy_here = not probe((), ["rclpy"])["rclpy"].get("error")
    serving = [m for m in package_modules() if is_serving(m) and (rclpy_here or not is_ros_adapter(m))]
    return probe(TORCH_BLOCKED, serving)


@cache
def engines_alone() -> dict[str, dict[str, object]]:
    """Each engines module imported by itself in a fresh interpreter (one probe per module would
    be slow, so: all of them in one, recording what each import newly loaded)."""
    modules = [m for m in package_modules() if m.startswith("edge_ai_ros.engines") and m not in NOT_SERVING]
    return probe((), modules)


def test_the_walk_finds_the_package() -> None:
    modules = package_modules()
    assert "edge_ai_ros.errors" in modules and "edge_ai_ros.engines.base" in modules
    assert not any(m.endswith("__init__") for m in modules)


@pytest.mark.parametrize("module", [m for m in package_modules() if not is_ros_adapter(m)])
def test_imports_without_rclpy_or_interfaces(module: str) -> None:
    outcome = without_ros()[module]
    assert "error" not in outcome, f"{module} needs ROS outside edge_ai_ros/ros/:\n{outcome.get('error')}"


@pytest.mark.parametrize("module", [m for m in package_modules() if is_serving(m)])
def test_serving_path_imports_without_torch(module: str) -> None:
    report = without_torch()
    if module not in report:
        pytest.skip("rclpy is not importable here, so ros/ modules cannot be imported at all")
    outcome = report[module]
    assert "error" not in outcome, f"{module} is on the serving path but needs torch:\n{outcome.get('error')}"


@pytest.mark.parametrize(
    "module", [m for m in package_modules() if m.startswith("edge_ai_ros.engines") and m not in NOT_SERVING]
)
def test_engine_modules_load_no_runtime_at_import(module: str) -> None:
    outcome = engines_alone()[module]
    assert "error" not in outcome, outcome.get("error")
    loaded = set(outcome["loaded"])  # type: ignore[arg-type]
    assert not loaded & set(RUNTIMES), f"importing {module} loaded {sorted(loaded & set(RUNTIMES))}; import lazily"


def test_the_blocker_really_blocks() -> None:
    """Guards the test itself: a blocked import must fail in the probe interpreter."""
    report = probe(("numpy",), ["numpy"])
    assert "blocked by test_import_boundaries" in str(report["numpy"].get("error"))


def imported_names(path: Path) -> set[str]:
    """Every module an import statement anywhere in ``path`` names (function bodies included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_ros_names_the_generated_interfaces() -> None:
    offenders = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if is_ros_adapter(module_name(path)) or "__pycache__" in path.parts:
            continue
        hits = {n for n in imported_names(path) if any(n == g or n.startswith(g + ".") for g in GENERATED_INTERFACES)}
        if hits:
            offenders[module_name(path)] = sorted(hits)
    assert not offenders, f"generated interfaces imported outside edge_ai_ros/ros/: {offenders}"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is not installed (requirements/dev.txt)"
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_import_linter_contracts_hold() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, f"lint-imports found broken contracts:\n{result.stdout}\n{result.stderr}"
    assert "0 broken" in result.stdout


def test_import_linter_sees_imports_inside_functions(tmp_path: Path) -> None:
    """Guards the contracts themselves: an import hidden in a function body breaks a layers contract."""
    package = tmp_path / "layered"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def use_high() -> None:\n    from layered import high  # noqa: F401\n")
    (package / "high.py").write_text("from layered import low  # noqa: F401\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = layered\n\n[importlinter:contract:one]\nname = high over low\n"
        "type = layers\nlayers =\n    layered.high\n    layered.low\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0 and "layered.low -> layered.high (l.2)" in result.stdout, result.stdout
