"""pip path for edge_ai_ros (the standalone venv, CI, plain Python users).

On a vehicle the package is built by colcon through CMakeLists.txt (ament_cmake); this file
is not used there. Both install the same Python package; only colcon builds the interfaces
(the standalone setup runs colcon into the venv first, see scripts/setup_venv.sh).
Install requirements are what the library needs to serve models; ROS comes from the distro
on a vehicle (or extra "ros-wheels" here) and torch only from extra "train".
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "edge_ai_ros"
ROOT = Path(__file__).resolve().parent
VERSION = "0.1.0"
# ROS executables: console scripts here, lib/edge_ai_ros/<name> under colcon (CMakeLists.txt).
NODE_EXECUTABLES = ("inference_node", "compiler_node", "lifecycle_manager", "camera_source")
CONSOLE_SCRIPTS = [
    "edge-ai-ros=edge_ai_ros.cli.main:main",
    *(f"{name}={PACKAGE}.ros.{name}:main" for name in NODE_EXECUTABLES),
]
INSTALL_REQUIRES = [
    "numpy>=1.21",
    "pyyaml>=5.4",
    "pillow>=9.0",
    "onnx>=1.14",
    "onnxruntime>=1.16",
    "rosbags>=0.10",
    "jsonschema>=4.10",
]


def requirement_lines(name: str) -> list[str]:
    """Requirement specifiers in requirements/<name>, comments and blank lines dropped."""
    lines = (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


EXTRAS_REQUIRE = {
    "openvino": ["openvino>=2024.0"],
    "train": ["torch>=2.1", "safetensors>=0.4"],
    # replay --ray: bags (or chunks of them) as Ray tasks on this machine or a cluster.
    "ray": ["ray>=2.9", "tqdm>=4.60"],
    # Standalone ROS 2 Jazzy from PyPI (x86_64 only); vehicles use the distro's rclpy.
    "ros-wheels": requirement_lines("ros-wheels.txt"),
}


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing folder/** under share/edge_ai_ros/folder, as colcon does."""
    entries: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT)
            entries.setdefault(f"share/{PACKAGE}/{relative.parent}", []).append(str(relative))
    return sorted(entries.items())


# pip's setuptools backend runs this file as __main__; tests load it under another name to read
# the constants above without building anything.
if __name__ == "__main__":
    setup(
        name=PACKAGE,
        version=VERSION,
        description="Take a perception model from PyTorch to a vehicle: compile, calibrate, serve on ROS 2.",
        license="Apache-2.0",
        maintainer="edge_ai_ros maintainers",
        maintainer_email="maintainers@edge-ai-ros.dev",
        python_requires=">=3.10",
        packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
        package_data={PACKAGE: ["assets/**/*"]},
        data_files=[
            ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
            (f"share/{PACKAGE}", ["package.xml"]),
            *share_files("launch"),
            *share_files("config"),
        ],
        install_requires=INSTALL_REQUIRES,
        extras_require=EXTRAS_REQUIRE,
        tests_require=["pytest"],
        entry_points={"console_scripts": CONSOLE_SCRIPTS},
        zip_safe=False,
    )
