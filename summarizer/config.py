"""Settings: frozen dataclasses, validated on construction, loadable from YAML.

The one source of defaults, ranges and choices. Each stage owns the dataclass of its own
section (``SeamSettings`` in ``summarizer.scenes.seams`` ...); `SECTIONS` names them all, and
`Settings` holds one of each, as the YAML file does. CLI help texts and app pages read
defaults through `default` instead of copying them. `settings_hash` gives the part of a store
key that says which settings made a result.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from summarizer.errors import SettingsError

T = TypeVar("T")


def check(cond: bool, msg: str) -> None:
    """Raise `SettingsError(msg)` unless `cond`: the one-line validation of every settings class."""
    if not cond:
        raise SettingsError(msg)


def check_fields(obj: Any, **specs: str | tuple[Any, ...]) -> None:
    """Check fields of settings dataclass `obj` against their declared ranges or choices;
    the first that fails raises one clear `SettingsError` (``pca_dims must be >= 2, got 1``).

    Each field's value must first be of its declared type (as `from_dict` checks a YAML
    file: bool is not a number, 2.5 is not a whole number; None only where the type allows
    it, and then it passes). A spec is then a range of finite numbers, ``">= 2"``, ``"> 0"``,
    ``"<= 10"``, an interval ``"[16, 4096]"``, ``"(0, 1)"``, ``"[0, 2^31)"`` or just
    ``"finite"`` (for a tuple of numbers: each of them); or a tuple of the allowed values.
    """
    import typing

    hints = _hints(type(obj))
    for name, spec in specs.items():
        value = _typed(name, getattr(obj, name), hints[name])
        if value is None:
            continue
        if isinstance(spec, tuple):
            check(
                value in spec, f"{name} must be one of {', '.join(map(str, spec))}, got {value!r}"
            )
            continue
        test, words = _range(spec)
        if type(None) in typing.get_args(hints[name]):
            words += " or null"
        if isinstance(value, tuple):  # a pair or triple of numbers: each in the range
            ok = all(math.isfinite(v) and test(v) for v in value)
            check(ok, f"{name} values must be {words}, got {value}")
        else:
            check(math.isfinite(value) and test(value), f"{name} must be {words}, got {value}")


@functools.cache
def _range(spec: str) -> tuple[Callable[[float], bool], str]:
    """(test, words) of a range spec (see `check_fields`)."""
    if spec == "finite":
        return (lambda v: True), "a finite number"
    ops = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
    m = re.fullmatch(r"(>=|>|<=|<) *(\S+)", spec)
    if m:
        op, bound = ops[m.group(1)], _number(m.group(2))
        return (lambda v: op(v, bound)), spec
    m = re.fullmatch(r"([\[(]) *([^,\s]+) *, *([^,\s]+) *([\])])", spec)
    if not m:
        raise ValueError(f"bad range spec {spec!r}")
    lo_op = operator.ge if m.group(1) == "[" else operator.gt
    hi_op = operator.le if m.group(4) == "]" else operator.lt
    lo, hi = _number(m.group(2)), _number(m.group(3))
    return (lambda v: lo_op(v, lo) and hi_op(v, hi)), f"in {spec}"


def _number(text: str) -> float:
    base, _, power = text.partition("^")
    return float(base) ** int(power) if power else float(text)


@dataclasses.dataclass(frozen=True)
class SampleSettings:
    """Which frames to take from a video and at what size.

    fps: target frames per second (None: every `every_n`-th frame of the source).
    every_n: take every n-th source frame (used when fps is None).
    keyframes_only: only the codec's key frames (fast seeking, irregular times).
    start_s / end_s: the time range to sample (end None: to the end).
    short_side: decode straight to this short side in pixels (what the model sees).
    thumb_short_side: short side of the thumbnails kept in the store for display.
    batch_frames: frames per decoded batch (memory stays flat whatever the length).
    time_regex: for image folders, a regex whose first group is the time in seconds.
    """

    fps: float | None = 2.0
    every_n: int = 1
    keyframes_only: bool = False
    start_s: float = 0.0
    end_s: float | None = None
    short_side: int = 224
    thumb_short_side: int = 128
    batch_frames: int = 64
    time_regex: str | None = None

    def __post_init__(self) -> None:
        check_fields(
            self,
            fps="> 0",
            every_n=">= 1",
            start_s=">= 0",
            short_side="[16, 4096]",
            thumb_short_side="[16, 1024]",
            batch_frames=">= 1",
        )
        check(
            self.end_s is None or self.end_s > self.start_s,
            f"end_s ({self.end_s}) must be after start_s ({self.start_s})",
        )


EMBEDDERS = ("clip", "pixels")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """Which embedder makes the frame vectors, and how it runs.

    embedder: "clip" (open_clip) or "pixels" (model-free colour/luma features).
    model / pretrained: open_clip architecture and weights tag, or a path to a checkpoint.
    device: "auto" (cuda > mps > cpu), or a torch device string.
    precision: "auto" (bf16 on CPUs with fast bf16, fp16 on GPU), "fp32", "bf16", "fp16".
    batch_size: images per forward pass.
    """

    embedder: str = "clip"
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64

    def __post_init__(self) -> None:
        check_fields(self, embedder=EMBEDDERS, precision=PRECISIONS, batch_size=">= 1")

    @property
    def model_id(self) -> str:
        """Identifies the vectors this embedder makes (part of every store key)."""
        if self.embedder == "pixels":
            return "pixels-v1"
        tag = self.pretrained
        p = Path(tag)
        if p.suffix in (".pt", ".pth", ".bin", ".safetensors") or p.exists():
            tag = f"file:{p.name}"
        return f"clip:{self.model}:{tag}"


def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """Build settings `cls` from a mapping, refusing unknown keys with a clear message."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(
            f"unknown {cls.__name__} setting(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})"
        )
    hints = _hints(cls)
    data = {k: _typed(f"{_label(cls)}.{k}", v, hints[k]) for k, v in data.items()}
    try:
        return cls(**data)
    except TypeError as exc:  # wrong type that __post_init__ could not compare
        raise SettingsError(f"bad {cls.__name__} settings: {exc}") from None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _label(cls: type) -> str:
    for name, spec in SECTIONS.items():
        if spec.endswith(f":{cls.__name__}"):
            return name
    return cls.__name__


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _typed(where: str, value: Any, hint: Any) -> Any:
    """`value` checked against the type `hint` of its field (bool is not a number, "3" is not
    3), tuples accepted as lists (YAML has no tuples); a clear `SettingsError` otherwise."""
    import numbers
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _typed(where, value, arg)
            except SettingsError:
                continue
        kinds = " or ".join(_describe(a) for a in args)
        raise SettingsError(f"{where} must be {kinds}, got {value!r}")
    if origin is tuple:
        if isinstance(value, str) and args[:1] == (str,):
            return value  # one prompt for a list of prompts: the dataclass wraps it
        if not isinstance(value, (list, tuple)):
            raise SettingsError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(where, v, args[0]) for v in value)
        if len(value) != len(args):
            raise SettingsError(f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(_typed(where, v, a) for v, a in zip(value, args, strict=True))
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        value = int(value) if ok else value
    elif hint is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:
        return value
    if not ok:
        raise SettingsError(f"{where} must be {_KINDS[hint]}, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    import typing

    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is tuple:
        return "a list"
    return _KINDS.get(hint, getattr(hint, "__name__", str(hint)))


def replace(obj: T, **changes: Any) -> T:
    """`dataclasses.replace` ignoring None values (CLI flags that were not given)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


def settings_hash(obj: Any, *, exclude: tuple[str, ...] = ()) -> str:
    """Stable 16-hex digest of a settings dataclass (or mapping), minus `exclude` fields."""
    data = dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)
    for key in exclude:
        data.pop(key, None)
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read a YAML config file into a dict of sections (``sample:``, ``embed:``, ``seams:`` ...)."""
    if path is None:
        return {}
    import yaml

    p = Path(path)
    if not p.is_file():
        raise SettingsError(f"config file not found: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"config file {p} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise SettingsError(f"config file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(
            f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {p} must hold a mapping of sections")
    return data


# ---------------------------------------------------------------------------- sections

#: YAML section -> "module:Class" of its settings (imported on first use, so reading a
#: config file never imports a model library).
SECTIONS: dict[str, str] = {
    "sample": "summarizer.config:SampleSettings",
    "embed": "summarizer.config:EmbedSettings",
    "seams": "summarizer.scenes.seams:SeamSettings",
    "summary": "summarizer.summary.kmeans:SummarySettings",
    "dedup": "summarizer.summary.dedup:DedupSettings",
    "gate": "summarizer.summary.gates:GateSettings",
    "latent": "summarizer.atlas.settings:LatentSettings",
    "poster": "summarizer.poster.layout:PosterSettings",
    "captions": "summarizer.captions.settings:CaptionSettings",
    "keywords": "summarizer.sources.keywords:KeywordSettings",
}
#: Keys of the ``sample:`` section that only the `sample` command reads.
SAMPLER = "summarizer.summary.sampling:SamplerSettings"


def _load(spec: str) -> type:
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def section_class(name: str) -> type:
    """The settings dataclass of YAML section `name`."""
    if name not in SECTIONS:
        raise SettingsError(f"unknown config section {name!r} (known: {', '.join(SECTIONS)})")
    return _load(SECTIONS[name])


def default(section: str, key: str) -> Any:
    """The default of `section.key`: what help texts and app widgets show."""
    for f in dataclasses.fields(section_class(section)):
        if f.name == key:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise SettingsError(f"unknown {section} setting {key!r}")


def split_sample_section(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config's ``sample:`` section split into `SampleSettings` keys (decoding, which
    every command reads) and `SamplerSettings` keys (only the `sample` command's), so one
    config file serves every command."""
    data = config.get("sample") or {}
    if not isinstance(data, Mapping):
        raise SettingsError("config section 'sample:' must be a mapping")
    sampler_keys = {f.name for f in dataclasses.fields(_load(SAMPLER))}
    decode = {k: v for k, v in data.items() if k not in sampler_keys}
    return decode, {k: v for k, v in data.items() if k in sampler_keys}


def _factory(name: str):
    return lambda: section_class(name)()


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting, one section per stage (as in the YAML file); sections not given take
    their defaults. Sections accept a dataclass or a mapping."""

    sample: SampleSettings = dataclasses.field(default_factory=SampleSettings)
    embed: EmbedSettings = dataclasses.field(default_factory=EmbedSettings)
    seams: Any = dataclasses.field(default_factory=_factory("seams"))
    summary: Any = dataclasses.field(default_factory=_factory("summary"))
    dedup: Any = dataclasses.field(default_factory=_factory("dedup"))
    gate: Any = dataclasses.field(default_factory=_factory("gate"))
    latent: Any = dataclasses.field(default_factory=_factory("latent"))
    poster: Any = dataclasses.field(default_factory=_factory("poster"))
    captions: Any = dataclasses.field(default_factory=_factory("captions"))
    keywords: Any = dataclasses.field(default_factory=_factory("keywords"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            cls, value = section_class(f.name), getattr(self, f.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, from_dict(cls, value))
            elif not isinstance(value, cls):
                raise SettingsError(
                    f"Settings.{f.name} must be a {cls.__name__} or a mapping, "
                    f"got {type(value).__name__}"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """From a mapping of sections (``{"sample": {...}, "seams": {...}}``); unknown
        sections and keys are refused."""
        if not isinstance(data, Mapping):
            raise SettingsError("settings must be a mapping of sections")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise SettingsError(
                f"unknown config section(s): {', '.join(map(str, unknown))} "
                f"(known: {', '.join(SECTIONS)})"
            )
        data = {**data, "sample": split_sample_section(data)[0]}
        return cls(**{name: from_dict(section_class(name), data.get(name)) for name in SECTIONS})

    @classmethod
    def from_yaml(cls, path: str | Path) -> Settings:
        """From a YAML config file (see docs/atlas.example.yaml)."""
        return cls.from_dict(load_config(path))
