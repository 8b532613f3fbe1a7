"""Named entries of one kind, each defined once: backbones, datasets, recipes, matrices, ablations.

A ``Registry`` keeps its entries in registration order and looks them up by name (any case,
spaces stripped), so the command line, the library and the report name things the same way; an
unknown name is one error listing the choices. Entries added later (a plugin's backbone, a test's)
go through ``register``; ``list`` and ``names`` filter on the entries' attributes, as timm's
``list_models`` does. It behaves as a read-only mapping of names to entries, with item assignment
and deletion meaning register and unregister (so a test can add an entry for its own duration).
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, Iterator, TypeVar

from skinbench.errors import RunError, SkinbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """The entries of one kind (``kind`` names it in errors), keyed by ``key(entry)``."""

    def __init__(
        self,
        kind: str,
        entries: Iterable[T] = (),
        *,
        key: Callable[[T], str] = lambda entry: entry.name,  # type: ignore[attr-defined]
        error: type[SkinbenchError] = RunError,
    ) -> None:
        self.kind, self._key, self._error = kind, key, error
        self._entries: dict[str, T] = {}
        for entry in entries:
            self.register(entry)

    def register(self, entry: T, *, replace: bool = False) -> T:
        """Add ``entry``; a second entry of one name is an error unless ``replace``."""
        name = self._key(entry)
        if name in self._entries and not replace:
            raise self._error(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str, *default: T) -> T:
        """The entry named ``name`` (any case, spaces stripped); an unknown name is an error listing
        the choices, or ``default`` when one is given (as a mapping's ``get``)."""
        found = self._entries.get(str(name).strip().lower())
        if found is None:
            if default:
                return default[0]
            raise self._error(f"unknown {self.kind} {name!r}; choose from {', '.join(self._entries)}")
        return found

    def list(self, **where: object) -> list[T]:
        """The entries, in registration order, whose attributes equal every ``where`` value."""
        return [e for e in self._entries.values() if all(getattr(e, k) == v for k, v in where.items())]

    def names(self, **where: object) -> tuple[str, ...]:
        """The names of ``list(**where)``."""
        return tuple(self._key(e) for e in self.list(**where))

    def parse(self, text: str | None, option: str) -> list[str] | None:
        """A comma-separated option as known names (None when not given)."""
        if text is None:
            return None
        names = [part.strip().lower() for part in text.split(",") if part.strip()]
        unknown = [n for n in names if n not in self._entries]
        if unknown or not names:
            raise self._error(f"{option}: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(self._entries)}",
                              fields=(option,))
        return names

    # The read-only mapping, and item assignment as (un)registration.
    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __setitem__(self, name: str, entry: T) -> None:
        if self._key(entry) != name:
            raise ValueError(f"{self.kind} {self._key(entry)!r} registered under {name!r}")
        self.register(entry, replace=True)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> list[T]:
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())
