"""Generate .pyi stubs for the TensorRT 11 Python API from the real bindings wheel, without a GPU.

The ``tensorrt-cu12-bindings`` wheel on PyPI is the real pybind11 module; the native TensorRT
libraries it links against come in another wheel that is not on PyPI. The module only needs its
few undefined native entry points to resolve to import, and nothing is called while the stub
generator reads its signatures. So:

1. unpack the pinned wheel (downloaded by ``pip download``) into WORK;
2. list the undefined symbols of ``tensorrt_bindings/tensorrt.so`` that no system library
   provides (``nm -D --undefined-only``: the ``create*_INTERNAL`` / ``get*`` entry points) and
   build placeholder ``libnvinfer.so.11``, ``libnvinfer_plugin.so.11`` and ``libnvonnxparser.so.11``
   exporting them (they return 0 and are never called);
3. run pybind11-stubgen on ``tensorrt_bindings`` with those libraries on LD_LIBRARY_PATH;
4. add a ``tensorrt`` package that re-exports it (as the ``tensorrt`` wheel does), declare
   ``__buffer__`` on the classes that implement the buffer protocol in C (Python 3.11 shows no such
   method, so the generator cannot see it; their docstrings say so) and repair the few signatures
   mypy cannot parse (``fix_tensorrt_stubs.py``).

Usage: make_tensorrt11_stubs.py WHEEL OUT_DIR   (OUT_DIR is replaced)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LIBRARIES = ("libnvinfer.so.11", "libnvinfer_plugin.so.11", "libnvonnxparser.so.11")
PACKAGE = "tensorrt_bindings"
# C++ spellings the bindings' docstrings leave in signatures: typed as Any in the stubs.
CPP_NAMES = r"^(nvinfer1|nvonnxparser|detail)::"
ENUM_LOCATIONS = {  # enum defaults printed as <Name.MEMBER: n>: the class they live in
    "ExecutionContextAllocationStrategy": f"{PACKAGE}.tensorrt",
    "DataType": f"{PACKAGE}.tensorrt",
    "PluginFieldType": f"{PACKAGE}.tensorrt",
    "EngineStat": f"{PACKAGE}.tensorrt",
    "Severity": f"{PACKAGE}.tensorrt.ILogger",
}
BUFFER_DOC = "exposes a buffer interface using Python's buffer protocol"
BUFFER_METHOD = "    def __buffer__(self, flags: int) -> memoryview: ...\n"
TENSORRT_INIT = f"from {PACKAGE} import *\nfrom {PACKAGE} import __version__ as __version__\n"


def missing_symbols(extension: Path) -> list[str]:
    """Undefined, unversioned symbols other than Python's and dl*: what the TensorRT libraries export."""
    listing = subprocess.run(["nm", "-D", "--undefined-only", str(extension)], check=True, capture_output=True,
                             text=True).stdout
    names = [line.split()[-1] for line in listing.splitlines() if line.split()[:1] == ["U"]]
    return sorted(n for n in names if "@" not in n and not re.match(r"_?_?Py|dl(open|sym|close|error)$", n))


def add_buffer_protocol(text: str) -> str:
    """Insert ``__buffer__`` after the docstring of each class whose docstring names the buffer protocol."""
    out, pending = [], False
    for line in text.splitlines(keepends=True):
        out.append(line)
        if line.startswith("class "):
            pending = False
        if BUFFER_DOC in line:
            pending = True
        if pending and line.strip() == '"""':
            out.append(BUFFER_METHOD)
            pending = False
    return "".join(out)


def build_placeholders(symbols: list[str], lib_dir: Path) -> None:
    """One placeholder library per TensorRT library name; each exports every missing symbol."""
    source = lib_dir / "placeholder.c"
    source.write_text("".join(f"void *{name}(void) {{ return 0; }}\n" for name in symbols), encoding="utf-8")
    for library in LIBRARIES:
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib_dir / library), f"-Wl,-soname,{library}",
                        str(source)], check=True)


def generate(wheel: Path, out_dir: Path, work: Path) -> None:
    unpacked, lib_dir = work / "wheel", work / "lib"
    lib_dir.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    build_placeholders(missing_symbols(unpacked / PACKAGE / "tensorrt.so"), lib_dir)
    env = dict(os.environ, LD_LIBRARY_PATH=f"{lib_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}",
               PYTHONPATH=str(unpacked))
    command = [sys.executable, "-m", "pybind11_stubgen", "--exit-code", "--ignore-invalid-expressions", CPP_NAMES,
               "-o", str(work / "stubs"), PACKAGE]
    for name, location in ENUM_LOCATIONS.items():
        command[3:3] = ["--enum-class-locations", f"{name}:{location}"]
    subprocess.run(command, check=True, env=env, cwd=work)
    module = work / "stubs" / PACKAGE / "tensorrt.pyi"
    module.write_text(add_buffer_protocol(module.read_text(encoding="utf-8")), encoding="utf-8")
    (work / "stubs" / "tensorrt").mkdir()
    (work / "stubs" / "tensorrt" / "__init__.pyi").write_text(TENSORRT_INIT, encoding="utf-8")
    fixer = Path(__file__).with_name("fix_tensorrt_stubs.py")
    subprocess.run([sys.executable, str(fixer), str(work / "stubs")], check=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(work / "stubs", out_dir)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.rsplit("Usage: ", 1)[-1], file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="trt11-stubs-") as work:
        generate(Path(argv[1]), Path(argv[2]), Path(work))
    print(f"make_tensorrt11_stubs: stubs for {Path(argv[1]).name} in {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
