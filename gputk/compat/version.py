"""One version type for drivers, CUDA releases, framework and library versions.

``Version.parse`` reads the leading dotted number of what tools print and ignores
the rest: ``"550.54.14"``, ``"12.4.1"``, ``"2.5.1+cu124"``, ``"v13.0"``,
``"9.3.0.75"``, ``"0.2.0.dev20260101"``. Comparison ignores trailing zeros, so
``12.4 == 12.4.0`` and ``570.26 < 570.26.1``; ``release`` is ``major.minor``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import total_ordering

_LEADING = re.compile(r"^\s*[vV]?(\d{1,9}(?:\.\d{1,9}){0,5})")
_STRICT = re.compile(r"^\d{1,9}(?:\.\d{1,9}){0,5}$")


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A dotted version; ``str()`` gives it back as written (its numeric part)."""

    parts: tuple[int, ...]
    text: str = ""  # the numeric part as written ("560.28.03": driver versions keep their zeros)
    _key: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", ".".join(str(p) for p in self.parts))
        key = list(self.parts)
        while len(key) > 1 and key[-1] == 0:
            key.pop()
        object.__setattr__(self, "_key", tuple(key))

    @classmethod
    def parse(cls, text: object, strict: bool = False) -> Version | None:
        """The version at the start of ``text``; None when there is none.

        ``strict``: the whole text must be a dotted number (``"12.4"``, not ``"12.4 (local)"``).
        """
        if isinstance(text, Version):
            return text
        if isinstance(text, int) and not isinstance(text, bool):
            return cls((text,))
        if not isinstance(text, str):
            return None
        if strict:
            s = text.strip()
            return cls(tuple(int(p) for p in s.split(".")), s) if _STRICT.match(s) else None
        m = _LEADING.match(text)
        return cls(tuple(int(p) for p in m.group(1).split(".")), m.group(1)) if m else None

    @classmethod
    def of(cls, text: object) -> Version:
        """Like :meth:`parse` but raises ValueError: for literals in data files and tests."""
        v = cls.parse(text)
        if v is None:
            raise ValueError(f"not a version: {text!r}")
        return v

    @property
    def major(self) -> int:
        return self.parts[0]

    @property
    def minor(self) -> int:
        return self.parts[1] if len(self.parts) > 1 else 0

    @property
    def release(self) -> str:
        """``"12.4"`` for 12.4.1; ``"12"`` when only the major is known."""
        return ".".join(str(p) for p in self.parts[:2])  # "12.04" is not a CUDA release; numbers

    def truncate(self, n: int) -> Version:
        return Version(self.parts[:n], ".".join(self.text.split(".")[:n]))

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key


def parse_version(text: object, strict: bool = False) -> Version | None:
    """:meth:`Version.parse` as a function."""
    return Version.parse(text, strict)


def release_of(text: object) -> str:
    """``"12.3.2"`` -> ``"12.3"``; ``"12"`` -> ``"12"``; ``""`` when not a version."""
    v = Version.parse(text)
    return v.release if v else ""


def version_key(text: object) -> tuple[int, ...]:
    """A sort key: the version's parts, ``()`` for text that is not one (sorts first)."""
    v = Version.parse(text)
    return v._key if v else ()
