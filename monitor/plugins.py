"""Typed registries of plugin kinds: built-in tables plus third-party entry points.

A kind (a notifier, a source) is a `Plugin`: its config model and a typed
factory. Each registry holds the built-ins from one table and adds the plugins
other distributions declare in an entry-point group (`trade_monitor.notifiers`,
`trade_monitor.sources`): the entry point's name is the `type:` config.yaml
gives, its object a `Plugin`. A plugin that fails to import, is not a
`Plugin`, or takes a name already taken (a built-in's, or another plugin's) is
left out with a warning naming its distribution, and a config using its name
gets an error saying why; the daemon never crashes on it, and a built-in is
never replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, NamedTuple, TypeVar

from pydantic import BaseModel

log = logging.getLogger(__name__)

C = TypeVar("C", bound=BaseModel)  # the kind's config base (NotifierConfig, SourceConfig)
F = TypeVar("F")  # the kind's factory: config (and what it needs) -> the running object
T = TypeVar("T")


class Plugin(NamedTuple, Generic[C, F]):
    """One kind: the model its config entries are validated with, and what builds it."""

    config: type[C]
    build: F


def narrow(model: type[T], value: object) -> T:
    """`value` as the plugin's own config model (a registry hands each factory its own)."""
    if not isinstance(value, model):
        raise TypeError(f"expected a {model.__name__}, got {type(value).__name__}")
    return value


class Registry(Generic[C, F]):
    """The kinds of one sort: type name -> `Plugin`, built-ins first."""

    def __init__(
        self, kind: str, group: str, base: type[C], builtins: Callable[[], dict[str, Plugin[C, F]]]
    ) -> None:
        self.kind, self.group, self.base, self.builtins = kind, group, base, builtins
        self._table: dict[str, Plugin[C, F]] | None = None
        self.failed: dict[str, str] = {}  # type name -> why its plugin was left out

    def table(self) -> dict[str, Plugin[C, F]]:
        """Every usable kind, loaded once (`refresh` loads again)."""
        if self._table is None:
            self._table, self.failed = self._load()
        return self._table

    def refresh(self) -> None:
        self._table, self.failed = None, {}

    def failure(self, name: str) -> str | None:
        """Why the plugin named `name` is not available, if one by that name was left out."""
        self.table()
        return self.failed.get(name)

    def _load(self) -> tuple[dict[str, Plugin[C, F]], dict[str, str]]:
        table = dict(self.builtins())
        origin = dict.fromkeys(table, "trade-monitor (built in)")
        failed: dict[str, str] = {}
        for entry in sorted(entry_points(group=self.group), key=_distribution):
            where = _distribution(entry)
            if entry.name in table:
                why = (
                    f"the {self.kind} type `{entry.name}` of {where} is ignored:"
                    f" {origin[entry.name]} already has that name, and a name is never taken over"
                )
            else:
                plugin = self._plugin(entry)
                if isinstance(plugin, Plugin):
                    table[entry.name], origin[entry.name] = plugin, where
                    continue
                why = f"the {self.kind} plugin `{entry.name}` of {where} is left out: {plugin}"
            log.warning("%s", why)
            failed.setdefault(entry.name, why)
        return table, failed

    def _plugin(self, entry: EntryPoint) -> Plugin[C, F] | str:
        """The entry point's `Plugin`, or why it cannot be used."""
        try:
            found = entry.load()
        except (Exception, SystemExit) as exc:  # a plugin's bug must not stop the daemon
            return f"loading {entry.value} failed: {type(exc).__name__}: {exc}"
        if (
            not isinstance(found, tuple)
            or len(found) != 2
            or not (isinstance(found[0], type) and issubclass(found[0], self.base))
            or not callable(found[1])
        ):
            return (
                f"{entry.value} is not a plugin: expected Plugin(config model subclassing"
                f" {self.base.__name__}, factory), such as notifier_plugin(MyConfig, MyNotifier)"
            )
        return Plugin(found[0], found[1])


def _distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"distribution {dist.name} {dist.version}" if dist else f"entry point {entry.value}"
