"""Which files make up an artifact, their hashes, and the check that they are the bytes described.

An engine artifact can be more than one file: an OpenVINO IR is an ``.xml`` graph plus a
``.bin`` of weights, an ONNX model may keep its weights in external-data files. Every one of
them is listed in the manifest (``artifact.files``: path relative to the manifest, sha256,
size) and checked whenever an artifact is about to be trusted: when the compiler cache
answers a hit (a mismatch is rebuilt) and when a node or a swap loads it (a mismatch is
refused, naming the file). The rule of which companions a format needs lives here only
(``COMPANIONS``), so a new format is covered by adding one line.

A manifest written before the list existed (no ``artifact.files``) describes a single-file
artifact: its main file is checked by ``artifact.sha256``. For a format whose companions are
required (OpenVINO IR) such a manifest is refused by a node and rebuilt by the compiler,
because nothing vouches for the weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.errors import CompileError, ManifestError

#: Environment variable naming extra folders (``os.pathsep``-separated) that artifacts may live
#: in besides their manifest's folder. Unset: an artifact must sit in its manifest's folder tree.
ARTIFACT_ROOTS_ENV = "EDGE_AI_ROS_ARTIFACT_ROOTS"


@dataclass(frozen=True, kw_only=True)
class ArtifactFile:
    """One file of an artifact: where it is (relative to the manifest), its sha256 and size."""

    path: str
    sha256: str
    size_bytes: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactFile:
        return cls(path=str(data["path"]), sha256=str(data["sha256"]), size_bytes=int(data["size_bytes"]))


def _openvino_companions(main: Path) -> tuple[Path, ...]:
    return (main.with_suffix(".bin"),)


def _onnx_companions(main: Path) -> tuple[Path, ...]:
    """External-data files the model names (none for a self-contained model)."""
    try:
        import onnx
        from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    except ImportError:  # serving-only installs: an ONNX without its external data fails to load anyway
        return ()
    model = onnx.load(str(main), load_external_data=False)
    names = {ExternalDataInfo(t).location: None for t in model.graph.initializer if uses_external_data(t)}
    return tuple(main.parent / name for name in names if name)


def _no_companions(main: Path) -> tuple[Path, ...]:
    return ()


#: format -> the files besides the main one that the artifact cannot run without.
#: A TensorRT plan is self-contained: its timing cache is a build input shared by later builds
#: (kept at the cache root, never served), recorded in build.details, not part of the artifact.
COMPANIONS: dict[str, Callable[[Path], tuple[Path, ...]]] = {
    "onnx": _onnx_companions,
    "openvino_ir": _openvino_companions,
    "tensorrt_plan": _no_companions,
    "torch_safetensors": _no_companions,
}
#: formats whose companions are always there (so a manifest that does not list them is incomplete)
REQUIRED_COMPANIONS = {"openvino_ir": _openvino_companions}


def describe_files(main: Path, fmt: str) -> tuple[ArtifactFile, ...]:
    """Hash the main file and every companion ``fmt`` needs (names relative to ``main``'s folder)."""
    files = [main, *COMPANIONS[fmt](main)]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise CompileError(f"the {fmt} artifact {main.name} is incomplete: {', '.join(missing)} missing",
                           fix="the backend's build step did not write every file; rebuild")
    return tuple(
        ArtifactFile(path=os.path.relpath(p, main.parent), sha256=file_sha256(p), size_bytes=p.stat().st_size)
        for p in files
    )


def allowed_roots(extra: Iterable[str | Path] = ()) -> tuple[Path, ...]:
    """Folders configured to hold artifacts besides the manifest's own (env var and ``extra``)."""
    configured = [r for r in os.environ.get(ARTIFACT_ROOTS_ENV, "").split(os.pathsep) if r]
    return tuple(Path(r).resolve() for r in (*configured, *extra))


def resolve_inside(folder: Path, relative: str, *, field: str, roots: tuple[Path, ...] = ()) -> Path:
    """``folder / relative`` resolved; refused unless it stays inside ``folder`` or an allowed root."""
    path = (folder / relative).resolve()
    for root in (folder.resolve(), *roots, *allowed_roots()):
        if path.is_relative_to(root):
            return path
    raise ManifestError(
        f"{field}: {relative!r} points outside the manifest's folder {folder}",
        fix=f"keep the artifact next to its manifest, or list its folder in the environment variable "
            f"{ARTIFACT_ROOTS_ENV} of the process that loads it",
    )


def verify_files(
    files: tuple[ArtifactFile, ...], *, folder: Path, main: Path, fmt: str, manifest_file: str | Path,
) -> None:
    """Raise ManifestError naming the first listed file that is missing, resized or changed.

    Messages never quote the hashes: a refused file's digest is not handed to whoever asked.
    """
    listed = {(folder / f.path).resolve() for f in files}
    for companion in (main, *REQUIRED_COMPANIONS.get(fmt, _no_companions)(main)):
        if companion.resolve() not in listed:
            raise ManifestError(
                f"artifact.files: {manifest_file} lists no hash for {companion.name}, which a {fmt} artifact needs",
                fix="the manifest predates per-file hashes; rebuild the engine with 'edge-ai-ros compile'",
            )
    for entry in files:
        path = resolve_inside(folder, entry.path, field="artifact.files")
        if not path.is_file():
            raise ManifestError(f"artifact missing: {path} (named by {manifest_file})",
                                fix="rebuild the engine or copy every artifact file next to its manifest")
        if path.stat().st_size != entry.size_bytes or file_sha256(path) != entry.sha256:
            raise ManifestError(
                f"artifact file {path} does not match its manifest {manifest_file} (size or sha256 differs)",
                fix="the file was changed or corrupted; rebuild the engine with 'edge-ai-ros compile'",
            )
