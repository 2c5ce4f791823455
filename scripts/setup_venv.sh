#!/usr/bin/env bash
# Build the standalone venv (.venv) for `make setup`: pinned ROS 2 Jazzy wheels, colcon build of
# our interfaces INTO the venv (merge install), then our package via pip so the console scripts
# land in .venv/bin. Afterwards .venv/bin/python works without sourcing anything.
#
# Idempotent: each step writes a stamp holding the hash of its inputs and is skipped while the
# inputs are unchanged, so a second `make` takes about a second. Remove .venv to start over.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
BUILD_BASE="$ROOT/build/colcon"
STAMPS="$VENV/.edge_ai_ros_stamps"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

log() { printf '[setup_venv %(%T)T] %s\n' -1 "$*"; }

# Hash of the named files and directory trees (content + path), ignoring caches and paths
# that do not exist.
inputs_hash() {
  local existing=() path
  for path in "$@"; do [[ -e "$path" ]] && existing+=("$path"); done
  find "${existing[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 2>/dev/null \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

site_packages() {
  "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

# run_step NAME HASH COMMAND...: run COMMAND unless the stamp NAME already holds HASH.
run_step() {
  local name="$1" hash="$2"; shift 2
  if [[ -f "$STAMPS/$name" && "$(cat "$STAMPS/$name")" == "$hash" ]]; then
    return 0
  fi
  log "$name"
  "$@"
  mkdir -p "$STAMPS"
  printf '%s\n' "$hash" > "$STAMPS/$name"
}

create_venv() {
  if ! command -v "$PYTHON" >/dev/null; then
    echo "setup_venv: $PYTHON not found; install Python 3.11 (Debian 12: apt-get install python3 python3-venv) or set PYTHON=" >&2
    exit 1
  fi
  "$PYTHON" -m venv "$VENV"
  "${PIP[@]}" install --upgrade pip==25.3 setuptools==80.9.0 wheel==0.45.1
}

install_requirements() {
  "${PIP[@]}" install -r requirements/venv.txt -r requirements/ros-wheels.txt \
    -r requirements/build-tools.txt -r requirements/dev.txt
  rm -rf "$VENV/typestubs"
  "${PIP[@]}" install --no-deps --target "$VENV/typestubs" -r requirements/typestubs.txt
  "$VENV/bin/python" scripts/fix_tensorrt_stubs.py "$VENV/typestubs"
  "$VENV/bin/python" scripts/fix_wheel_cmake_paths.py
  # OpenVINO's model tools send usage events through openvino-telemetry when a user once opted
  # in; without the package they fall back to their own no-op stub. Nothing here may phone home.
  "${PIP[@]}" uninstall -y openvino-telemetry >/dev/null 2>&1 || true
}

# Stubs of the TensorRT 11 API for `make typecheck`, generated from the real bindings wheel
# (downloaded, never installed) with placeholder native libraries built by cc.
tensorrt11_stubs() {
  local wheels
  wheels="$(mktemp -d)"
  "${PIP[@]}" download --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$wheels" -r requirements/typestubs-trt11.txt
  "$VENV/bin/python" scripts/make_tensorrt11_stubs.py "$wheels"/tensorrt_cu12_bindings-*.whl "$VENV/typestubs-trt11"
  rm -rf "$wheels"
}

colcon_build() {
  # The venv is the install base (merge layout): libraries go to .venv/lib, which the ROS
  # wheels' bootstrapper already puts on LD_LIBRARY_PATH, and the generated Python package
  # to the venv's site-packages/edge_ai_ros, so nothing needs sourcing.
  local log_file="$ROOT/build/colcon-build.log"
  mkdir -p "$ROOT/build"
  if ! AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" \
    "$VENV/bin/colcon" --log-base "$ROOT/build/colcon-log" build \
      --base-paths "$ROOT" --packages-select edge_ai_ros \
      --build-base "$BUILD_BASE" --install-base "$VENV" --merge-install \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
      > "$log_file" 2>&1; then
    tail -n 60 "$log_file" >&2
    echo "setup_venv: colcon build failed; full log: $log_file" >&2
    exit 1
  fi
}

# ament_index_python (get_package_share_directory: config/, launch/) needs AMENT_PREFIX_PATH.
# This .pth puts the venv on it in every interpreter the venv starts, so nothing needs sourcing.
write_ament_prefix_pth() {
  cat > "$(site_packages)/edge_ai_ros_ament_prefix.pth" <<'PTH'
import os, sys; _p = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]; sys.prefix in _p or os.environ.__setitem__("AMENT_PREFIX_PATH", os.pathsep.join([sys.prefix, *_p]))
PTH
}

pip_install_package() {
  # colcon installed an egg-info for edge_ai_ros (via rosidl's ament_python_install_package).
  # pip would "uninstall" that by deleting the whole edge_ai_ros folder named in its
  # top_level.txt, generated interfaces included; remove it so pip only manages its own files.
  rm -rf "$(site_packages)"/edge_ai_ros-*.egg-info
  "${PIP[@]}" install --no-deps --no-build-isolation --force-reinstall "$ROOT"
  rm -rf "$ROOT/build/lib" "$ROOT/build/bdist."* "$ROOT"/*.egg-info
}

[[ -x "$VENV/bin/python" ]] || { log "create $VENV"; create_venv; }
req_hash="$(inputs_hash requirements scripts/setup_venv.sh scripts/fix_wheel_cmake_paths.py scripts/fix_tensorrt_stubs.py)"
run_step requirements "$req_hash" install_requirements
run_step tensorrt11-stubs "$(inputs_hash requirements/typestubs-trt11.txt scripts/make_tensorrt11_stubs.py scripts/fix_tensorrt_stubs.py)-$req_hash" tensorrt11_stubs
colcon_hash="$(inputs_hash package.xml CMakeLists.txt msg srv action launch config scripts/ros_executable.py.in)-$req_hash"
run_step colcon "$colcon_hash" colcon_build
[[ -f "$(site_packages)/edge_ai_ros_ament_prefix.pth" ]] || write_ament_prefix_pth
pip_hash="$(inputs_hash setup.py setup.cfg edge_ai_ros resource launch config)-$colcon_hash"
run_step package "$pip_hash" pip_install_package
log "ready: $VENV"
