"""Query-parameter values read defensively (junk gives the default), so any link opens a page."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def qp_get(params: Mapping[str, Any], name: str, default: Any = None) -> Any:
    value = params.get(name, default)
    if isinstance(value, list):
        value = value[-1] if value else default
    return value


def qp_float(params: Mapping[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    """A float query parameter clamped to [lo, hi]; junk gives the default."""
    try:
        v = float(qp_get(params, name, default))
    except (TypeError, ValueError):
        return default
    return default if not math.isfinite(v) else min(max(v, lo), hi)


def qp_int(params: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    return int(round(qp_float(params, name, float(default), float(lo), float(hi))))


def qp_choice(params: Mapping[str, Any], name: str, choices: Sequence[str], default: str) -> str:
    v = qp_get(params, name, default)
    return v if v in choices else default


def qp_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    v = qp_get(params, name, None)
    if v is None:
        return default
    return str(v).lower() in ("1", "true", "yes", "on")


def qp_list(params: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated query parameter as a list (empty items dropped)."""
    v = qp_get(params, name, "") or ""
    return [x for x in str(v).split(",") if x]


def fmt_num(x: float) -> str:
    """Short text for a number in a URL: 3, 2.5, 0.125."""
    return f"{x:g}"
