"""Weights for zoo.load and zoo.save: offline-first, verified, strict.

Nothing here touches the network unless a download is asked for. Pickle-based
files are only ever read with torch.load(weights_only=True); globals beyond
that are allowed only when named by the caller. Registered weights (tags such
as "resnet50.tv_in1k") live in the local cache and are checked against their
full sha256 before use.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")
# A directory in zoo's save layout or Hugging Face's save_pretrained layout.
DIRECTORY_FILES = ("model.safetensors", "pytorch_model.bin")
CONFIG_FILE = "config.json"
METADATA_KEY = "zoo"


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A pickle checkpoint needs globals that weights_only loading does not allow."""


class ChecksumError(ValueError):
    """A weights file does not have the sha256 it was registered with."""


@dataclass(frozen=True)
class WeightsSpec:
    """One set of published weights for a model, registered by a plugin."""

    tag: str  # "<model>.<variant>", e.g. "resnet50.tv_in1k"
    file_name: str
    sha256: str
    url: str = ""
    license: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    source: str = "user code"

    def __post_init__(self) -> None:
        if "." not in self.tag:
            raise ValueError(f"WeightsSpec argument 'tag' must look like '<model>.<variant>', got {self.tag!r}")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"WeightsSpec argument 'sha256' of {self.tag!r} must be 64 lowercase hex digits")

    @property
    def model(self) -> str:
        return self.tag.split(".", 1)[0]

    @property
    def local_path(self) -> Path:
        return cache_dir() / self.file_name


def zoo_home() -> Path:
    """$ZOO_HOME, by default zoo/ under the user cache directory: what zoo keeps between runs."""
    return Path(os.environ.get("ZOO_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zoo")


def cache_dir() -> Path:
    """$ZOO_HOME/weights."""
    return zoo_home() / "weights"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> Path:
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"sha256 of {str(path)!r} is {actual}, expected {expected}: the file is corrupt or not the "
            f"registered one, and was not used. Delete it and put the right file there."
        )
    return path


def download(url: str, destination: Path, sha256: str) -> Path:
    """Fetch `url` into `destination` through a temporary file, verified before it is moved into place."""
    from rich.progress import Progress

    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=destination.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with Progress(transient=True) as bar:
                task = bar.add_task(f"downloading {destination.name}", total=total)
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.advance(task, len(block))
        try:
            verify(Path(tmp), sha256)
        except ChecksumError as error:
            raise ChecksumError(f"downloaded {url}, but {error}; nothing was written to the cache") from None
        os.replace(tmp, destination)
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(
            f"could not download {url} ({error}); put the file at {str(destination)!r} by hand"
        ) from error
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination


def resolve(spec: WeightsSpec, *, download_missing: bool = False) -> Path:
    """The verified local file of registered weights, downloading only if asked to."""
    path = spec.local_path
    if not path.exists():
        if not (download_missing and spec.url):
            how = " or pass download=True to fetch it" if spec.url else ""
            raise FileNotFoundError(
                f"weights {spec.tag!r} are not in the local cache: put {spec.file_name} "
                f"(sha256 {spec.sha256}) at {str(path)!r}{how}"
            )
        download(spec.url, path, spec.sha256)
    return verify(path, spec.sha256)


def _checkpoint_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in DIRECTORY_FILES:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"argument 'weights': directory {str(path)!r} holds none of {', '.join(DIRECTORY_FILES)}")


def _read_pickle(path: Path, allow_globals: Iterable[Any]) -> dict:
    try:
        with torch.serialization.safe_globals(list(allow_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        try:
            needed = ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception:  # not a zip checkpoint: torch's own message names the global
            needed = ", ".join(re.findall(r"GLOBAL ([\w.]+)", str(error))) or "see torch's message"
        raise UnsafeCheckpointError(
            f"refused to load {str(path)!r}: it needs globals that weights-only loading does not allow "
            f"({needed}). zoo never unpickles arbitrary code; if you trust this file, name the classes "
            f"explicitly with zoo.load(..., weights_allow_globals=[...])."
        ) from None


# Where training checkpoints (timm, Lightning, plain loops) keep the weights.
NESTED_STATE_KEYS = ("state_dict", "model_state_dict", "model")


def _state_dict_in(checkpoint: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict itself, or the one a training checkpoint nests under a known key."""
    if isinstance(checkpoint, dict) and not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        nested = next((checkpoint[k] for k in NESTED_STATE_KEYS if isinstance(checkpoint.get(k), dict)), None)
        checkpoint = nested if nested is not None else checkpoint
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ValueError(
            f"argument 'weights': {str(path)!r} holds no state_dict (a dict of tensors, "
            f"possibly under one of {', '.join(NESTED_STATE_KEYS)})"
        )
    return checkpoint


def read_state_dict(path: str | Path, *, allow_globals: Iterable[Any] = ()) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, a .pt/.pth/.bin state_dict, or a zoo / Hugging Face directory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"argument 'weights': no such file or directory {str(path)!r}")
    path = _checkpoint_file(path)
    if path.suffix in SAFE_SUFFIXES:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise ValueError(f"argument 'weights': {str(path)!r} is not a valid safetensors file ({error})") from None
    if path.suffix in PICKLE_SUFFIXES:
        return _state_dict_in(_read_pickle(path, allow_globals), path)
    raise ValueError(
        f"argument 'weights': unsupported file type {path.suffix!r}; expected one of "
        f"{', '.join(SAFE_SUFFIXES + PICKLE_SUFFIXES)} or a directory"
    )


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, ignore: Iterable[str] = (),
               origin: str = "checkpoint") -> nn.Module:
    """Load `state` strictly: every missing, unexpected or mis-shaped tensor is named in one error.

    Keys matching an fnmatch pattern in `ignore` (e.g. "head.*" for a new classifier)
    may be missing or mis-shaped and keep their fresh initialisation.
    """
    ignore = tuple(ignore)

    def ignored(key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, p) for p in ignore)

    own = model.state_dict()
    problems = [f"missing: {k}" for k in own if k not in state and not ignored(k)]
    problems += [f"unexpected: {k}" for k in state if k not in own]
    mismatched = [k for k, v in own.items() if k in state and state[k].shape != v.shape]
    problems += [f"shape of {k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
                 for k in mismatched if not ignored(k)]
    if problems:
        raise ValueError(f"weights from {origin} do not fit the model:\n  " + "\n  ".join(problems))
    nonfinite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        warnings.warn(f"weights from {origin} hold NaN or Inf in: {', '.join(nonfinite)}", RuntimeWarning, stacklevel=3)
    model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)
    return model


def load_weights(model: nn.Module, path: str | Path, *, ignore: Iterable[str] = (),
                 allow_globals: Iterable[Any] = ()) -> nn.Module:
    """Read `path` and load it into `model` strictly (see load_state)."""
    return load_state(model, read_state_dict(path, allow_globals=allow_globals), ignore=ignore, origin=repr(str(path)))


def save(model: nn.Module, path: str | Path, *, name: str, config: Mapping[str, Any]) -> Path:
    """Write `model` as safetensors carrying its zoo name and config, so zoo.load(path) rebuilds it.

    A path ending in .safetensors is one file (name and config in its metadata);
    any other path is a directory with model.safetensors and config.json.
    """
    from safetensors.torch import save_file

    path = Path(path)
    description = json.dumps({"name": name, "config": dict(config)})
    target = path if path.suffix == ".safetensors" else path / DIRECTORY_FILES[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share storage (tied weights)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(target), metadata={METADATA_KEY: description})
    if target != path:
        (path / CONFIG_FILE).write_text(json.dumps({"zoo_" + k: v for k, v in json.loads(description).items()}, indent=2))
    return path


def foreign_config(path: str | Path) -> dict | None:
    """The config.json of a checkpoint directory not written by zoo (a Hugging Face save_pretrained one), else None."""
    path = Path(path)
    config = path / CONFIG_FILE
    if not config.is_file() or saved_description(path) is not None:
        return None
    try:
        return json.loads(config.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"argument 'weights': {str(config)!r} is not valid JSON ({error})") from None


def saved_description(path: str | Path) -> dict | None:
    """{"name", "config"} of a file or directory written by save(), else None."""
    path = Path(path)
    file = path / DIRECTORY_FILES[0] if path.is_dir() else path
    if file.suffix != ".safetensors" or not file.is_file():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except SafetensorError as error:
        raise ValueError(f"{str(file)!r} is not a valid safetensors file ({error})") from None
    return json.loads(raw) if raw else None
