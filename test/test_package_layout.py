"""The repository is one ROS 2 package that colcon and pip both install consistently:
package.xml (format 3, dependencies), CMakeLists.txt (interfaces, executables) and setup.py
(console scripts, requirements) agree with each other and with the source tree."""

from __future__ import annotations

import ast
import os
import re
import runpy
import sys
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from ros_harness import REPO_ROOT

NODE_EXECUTABLES = ("inference_node", "compiler_node", "lifecycle_manager", "camera_source")
REQUIRED_DEPENDENCIES = (
    "std_msgs", "sensor_msgs", "builtin_interfaces", "action_msgs", "diagnostic_msgs", "lifecycle_msgs",
    "std_srvs", "rclpy", "rosidl_default_runtime", "python3-numpy", "python3-yaml", "python3-pil",
)
DEPENDENCY_TAGS = ("depend", "exec_depend", "build_depend", "build_export_depend", "buildtool_depend")


@pytest.fixture(scope="module")
def package_xml() -> ET.Element:
    return ET.parse(REPO_ROOT / "package.xml").getroot()


@pytest.fixture(scope="module")
def setup_py() -> dict[str, Any]:
    """setup.py's module constants, read without building anything (setup() runs only as __main__)."""
    return runpy.run_path(str(REPO_ROOT / "setup.py"), run_name="setup_py_under_test")


@pytest.fixture(scope="module")
def cmake_text() -> str:
    return (REPO_ROOT / "CMakeLists.txt").read_text(encoding="utf-8")


def dependencies(root: ET.Element, tags: tuple[str, ...] = DEPENDENCY_TAGS) -> set[str]:
    return {(element.text or "").strip() for tag in tags for element in root.iter(tag)}


def test_package_xml_is_format_3_ament_cmake_interface_package(package_xml: ET.Element) -> None:
    assert package_xml.get("format") == "3"
    assert package_xml.findtext("name") == "edge_ai_ros"
    assert package_xml.findtext("export/build_type") == "ament_cmake"
    assert package_xml.findtext("member_of_group") == "rosidl_interface_packages"
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= dependencies(
        package_xml, ("buildtool_depend",))


@pytest.mark.parametrize("name", REQUIRED_DEPENDENCIES)
def test_package_xml_lists_runtime_dependency(package_xml: ET.Element, name: str) -> None:
    assert name in dependencies(package_xml, ("depend", "exec_depend"))


def test_vision_msgs_stays_optional(package_xml: ET.Element) -> None:
    assert "vision_msgs" not in dependencies(package_xml)


def test_package_xml_passes_catkin_pkg_validation() -> None:
    """catkin_pkg is what colcon and ament use; it rejects e.g. maintainer e-mails like a@b.c."""
    package_module = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg comes with make setup")
    package = package_module.parse_package(str(REPO_ROOT / "package.xml"))
    package.validate()
    assert package.maintainers[0].email == "maintainers@edge-ai-ros.dev"


def test_versions_agree(package_xml: ET.Element, setup_py: dict[str, Any]) -> None:
    init = ast.parse((REPO_ROOT / "edge_ai_ros" / "__init__.py").read_text(encoding="utf-8"))
    init_version = next(
        node.value.value for node in init.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__"
        and isinstance(node.value, ast.Constant)
    )
    assert package_xml.findtext("version") == setup_py["VERSION"] == init_version


def test_console_scripts_are_the_cli_and_the_node_executables(setup_py: dict[str, Any]) -> None:
    names = [entry.split("=")[0] for entry in setup_py["CONSOLE_SCRIPTS"]]
    assert names == ["edge-ai-ros", *NODE_EXECUTABLES]


@pytest.mark.parametrize("entry", runpy.run_path(str(REPO_ROOT / "setup.py"), run_name="x")["CONSOLE_SCRIPTS"])
def test_console_script_target_is_a_main_function_in_the_source(entry: str) -> None:
    """Each target module exists and defines main (read with ast: ros/ modules need rclpy)."""
    module, function = entry.split("=")[1].split(":")
    path = REPO_ROOT / Path(*module.split(".")).with_suffix(".py")
    assert path.is_file(), f"{entry}: {path.relative_to(REPO_ROOT)} does not exist"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, f"{entry}: no {function}()"


def test_install_requires_excludes_ros_wheels_and_torch(setup_py: dict[str, Any]) -> None:
    names = {re.split(r"[<>=!~ ;\[]", req)[0].lower() for req in setup_py["INSTALL_REQUIRES"]}
    assert {"numpy", "onnxruntime", "rosbags"} <= names
    assert not {n for n in names if n.startswith("ros-") or n in {"rclpy", "torch", "torchvision"}}
    assert any(req.startswith("torch") for req in setup_py["EXTRAS_REQUIRE"]["train"])


def test_ros_wheels_extra_is_the_pinned_requirements_file(setup_py: dict[str, Any]) -> None:
    pins = setup_py["EXTRAS_REQUIRE"]["ros-wheels"]
    assert "ros-jazzy-rclpy==7.1.6" in pins and "ros-jazzy-action-msgs==2.0.3" in pins
    assert all("==" in pin for pin in pins)


def test_venv_requirements_pin_the_local_torch() -> None:
    lines = (REPO_ROOT / "requirements" / "venv.txt").read_text(encoding="utf-8").splitlines()
    torch_lines = [ln.split("#")[0].strip() for ln in lines if re.match(r"\s*torch\b(?![-_])", ln)]
    assert torch_lines == ["torch==2.13.0"], "only torch==2.13.0 is on local disk; other specs download GBs"


def test_cmake_generates_every_interface_file(cmake_text: str) -> None:
    listed = set(re.findall(r'"((?:msg|srv|action)/\w+\.(?:msg|srv|action))"', cmake_text))
    on_disk = {f"{folder}/{p.name}" for folder in ("msg", "srv", "action") for p in (REPO_ROOT / folder).iterdir()}
    assert listed == on_disk


def test_cmake_installs_the_same_node_executables(cmake_text: str) -> None:
    match = re.search(r"foreach\(EXECUTABLE ([\w ]+)\)", cmake_text)
    assert match is not None
    assert tuple(match.group(1).split()) == NODE_EXECUTABLES
    assert "ament_python_install_package" not in re.sub(r"#.*", "", cmake_text), (
        "rosidl already calls ament_python_install_package(edge_ai_ros); a second call fails configure"
    )


def installed_distribution() -> metadata.Distribution | None:
    try:
        dist = metadata.distribution("edge_ai_ros")
    except metadata.PackageNotFoundError:
        return None
    return dist


def test_installed_console_scripts_exist_beside_the_interpreter(setup_py: dict[str, Any]) -> None:
    dist = installed_distribution()
    if dist is None:
        pytest.skip("edge_ai_ros is not pip-installed into this interpreter (make setup does that)")
    scripts = {ep.name for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {entry.split("=")[0] for entry in setup_py["CONSOLE_SCRIPTS"]}
    bin_dir = Path(sys.executable).parent
    for name in scripts:
        assert os.access(bin_dir / name, os.X_OK), f"{bin_dir / name} missing or not executable"


@pytest.mark.parametrize("name", NODE_EXECUTABLES)
def test_colcon_installed_ros_executable(name: str) -> None:
    """colcon (make setup builds into the venv) puts `ros2 run` executables in lib/edge_ai_ros."""
    lib_dir = Path(sys.prefix) / "lib" / "edge_ai_ros"
    if not lib_dir.is_dir():
        pytest.skip(f"no colcon install in {sys.prefix}")
    script = lib_dir / name
    assert os.access(script, os.X_OK)
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!") and f"from edge_ai_ros.ros.{name} import main" in text
