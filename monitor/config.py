"""config.yaml: where news comes from, where alerts go, and where state lives.

Loaded with PyYAML's safe loader (keeping positions), `${VAR}` and
`${VAR:-default}` replaced from the environment, then validated with pydantic:
the top level here, each source and notifier by the model its own module
defines. Every problem is collected and reported together with the file, line
and key path (`sources[0].interval`).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError

from monitor.errors import Problem, UserError, did_you_mean, key_path, without_secrets
from monitor.fetch import MAX_CONCURRENT, PER_HOST
from monitor.listener import ListenAddress, split_listen
from monitor.notify import NOTIFIERS, NotifierConfig
from monitor.plugins import Registry
from monitor.settings import Duration, Strict, human_duration, secret_fields, secret_values
from monitor.sources import SOURCES, SourceConfig, SourceDefaults, with_defaults
from monitor.sources.catalog import SKIP, expand_uses
from monitor.store.postgres import is_postgres, redact_url, url_passwords, url_problem
from monitor.yamlsrc import Document, Loc, load_yaml, validation_problems

log = logging.getLogger(__name__)
C = TypeVar("C", bound=Strict)  # the config model of a kind of source or notifier
ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
USER_AGENT = "trade-monitor/0.1 (+https://github.com/trade-monitor/trade-monitor)"


class Defaults(SourceDefaults):
    """`defaults:`: the source settings (`SourceDefaults`, where their numbers are), and more."""

    notify: list[str] = ["console"]
    user_agent: str = USER_AGENT
    dispatch_interval: Duration = 5.0
    remember: Duration = 90 * 86400.0  # how long a seen item is remembered after it was last shown
    health_notify: list[str] | None = None  # where source health goes; None: `notify`; []: nowhere
    # Polite fetching (monitor/fetch.py): requests at once to one host and in all, and the
    # least time between the starts of two requests to one host.
    per_host: int = Field(default=PER_HOST, ge=1, le=100)
    max_concurrent: int = Field(default=MAX_CONCURRENT, ge=1, le=1000)
    host_gap: Duration = 0.0

    @property
    def health_notifiers(self) -> list[str]:
        """The notifiers a source's down and recovered messages go to."""
        return self.notify if self.health_notify is None else self.health_notify


class PushConfig(Strict):
    """`push:`: WebSub (monitor/websub.py). `callback` is the public base URL the hub calls;
    it must reach the `http:` listener's /websub (through a reverse proxy, usually)."""

    callback: str = Field(pattern=r"^https?://[^\s/]+\S*$")
    lease: Duration = Field(default=86400.0, gt=0)  # asked of the hub; it may grant another
    confirm_within: Duration = Field(default=60.0, gt=0)  # a hub silent longer: dropped
    slow_interval: Duration = Field(default=3600.0, gt=0)  # polls while subscribed, at least


class WebConfig(Strict):
    """`web:`: the desk's web page (monitor/web/, on the `http:` listener). Without a token the
    page is read-only; with one, retrying a dead alert needs it (never shown or logged)."""

    token: SecretStr | None = None


class ConfigModel(Strict):
    state: str = "sqlite:///state/trade-monitor.db"
    rules: list[str] = ["rules/"]
    defaults: Defaults = Defaults()
    sources: list[Any] = []
    notifiers: list[Any] = [{"id": "console", "type": "console"}]
    http: ListenAddress = None
    push: PushConfig | None = None
    web: WebConfig = WebConfig()


@dataclass
class Config:
    path: Path
    state: str
    rule_paths: list[Path]
    defaults: Defaults
    sources: list[SourceConfig]
    notifiers: list[NotifierConfig]
    disabled: dict[str, list[str]] = field(default_factory=dict)  # notifier id -> missing keys
    http: tuple[str, int] | None = None  # where /metrics and /healthz listen; None: off
    push: PushConfig | None = None  # WebSub; None: off
    web: WebConfig = field(default_factory=WebConfig)  # the web page's action token

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def enabled_notifiers(self) -> list[NotifierConfig]:
        return [n for n in self.notifiers if n.id not in self.disabled]

    def secrets(self) -> list[str]:
        """Every secret of every source and notifier, found by its type (`SecretStr`), and the
        password of the state database."""
        return secret_values([*self.sources, *self.notifiers, self.web]) + url_passwords(self.state)

    @property
    def web_token(self) -> str | None:
        """The token actions on the web page need; None (read-only) when unset or empty."""
        token = self.web.token.get_secret_value() if self.web.token else ""
        return token or None


def load_config(path: Path) -> Config:
    """The validated config; UserError with every problem if anything is wrong."""
    doc = load_yaml(path)
    problems: list[Problem] = []
    if not isinstance(doc.data, dict):
        raise UserError([doc.problem((), "expected a mapping with sources, notifiers and rules")])
    doc.data = _substitute(doc, doc.data, (), problems)
    model = None
    try:
        model = ConfigModel.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(doc, (), exc, ConfigModel))
    raw_sources = doc.data.get("sources") if isinstance(doc.data.get("sources"), list) else []
    raw_sources = expand_uses(doc, raw_sources, problems)  # `- use: <catalogue id>`
    raw_notifiers = doc.data.get("notifiers", ConfigModel().notifiers)
    raw_notifiers = raw_notifiers if isinstance(raw_notifiers, list) else []
    sources = _typed(doc, raw_sources, "sources", SOURCES, problems)
    notifiers = _typed(doc, raw_notifiers, "notifiers", NOTIFIERS, problems)
    secrets = raw_secrets(raw_sources, SOURCES) + raw_secrets(raw_notifiers, NOTIFIERS)
    if isinstance(doc.data.get("state"), str):
        secrets += url_passwords(doc.data["state"])
    if isinstance(doc.data.get("web"), dict) and doc.data["web"].get("token"):
        secrets.append(str(doc.data["web"]["token"]))
    problems = [without_secrets(problem, secrets) for problem in problems]
    if model is None:
        raise UserError(problems)
    notifier_ids = {n.id for n in notifiers}
    defaults = model.defaults
    named = [("notify", i, name) for i, name in enumerate(defaults.notify)]
    named += [("health_notify", i, name) for i, name in enumerate(defaults.health_notify or ())]
    for key, i, name in named:
        if name not in notifier_ids:
            hint = did_you_mean(name, notifier_ids) or "define it under notifiers:"
            loc = ("defaults", key, i)
            problems.append(doc.problem(loc, f"no notifier named `{name}`", key_path(loc), hint))
    if model.push and not model.http:
        hint = "set http: to the address the reverse proxy behind push.callback forwards to"
        problems.append(doc.problem(("push",), "push: needs http:, where the hub calls", "push",
                                    hint))  # fmt: skip
    if problem := _state_problem(model.state):
        problems.append(doc.problem(("state",), problem[0], "state", problem[1]))
    resolved = [with_defaults(s, model.defaults) for s in sources]
    problems += _too_often(doc, raw_sources, resolved)
    if problems:
        raise UserError([without_secrets(problem, secrets) for problem in problems])
    base = path.parent
    return Config(
        path=path,
        state=model.state,
        rule_paths=[base / p for p in model.rules],
        defaults=model.defaults,
        sources=resolved,
        notifiers=notifiers,
        disabled={n.id: n.missing() for n in notifiers if n.missing()},
        http=split_listen(model.http) if model.http else None,
        push=model.push,
        web=model.web,
    )


def _too_often(doc: Document, raw: list[Any], sources: list[SourceConfig]) -> list[Problem]:
    """A source polled more often than its kind allows (`interval_floor`): an error, pointing
    at the key that set it (the source's own, or the defaults')."""
    where = {item.get("id"): i for i, item in enumerate(raw) if isinstance(item, dict)}
    problems = []
    for source in sources:
        floor, shortest = source.interval_floor(), source.interval_bounds[0]
        if shortest >= floor:
            continue
        key = "min_interval" if shortest < source.interval else "interval"
        i = where.get(source.id)
        loc: Loc = ("sources", i, key) if i is not None and key in raw[i] else ("defaults", key)
        message = (
            f"source {source.id} would be polled every {human_duration(shortest)},"
            f" more often than every {human_duration(floor)}"
        )
        hint = f"a feed on another host is polled at most every {human_duration(floor)}"
        problems.append(doc.problem(loc, message, key_path(loc), hint))
    return problems


def raw_secrets(items: list[Any], registry: Registry[Any, Any]) -> list[str]:
    """The values given for secret fields, before validation: an error must not show them.

    A field is secret by its type in the plugin's model, as after validation.
    """
    values: list[Any] = []
    types = registry.table()
    for item in items:
        if not isinstance(item, dict) or item.get("type") not in types:
            continue
        model = types[item["type"]].config
        for name in secret_fields(model):
            values.append(item.get(model.model_fields[name].alias or name))
    return secret_values(_as_secrets(values))


def _as_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return [_as_secrets(v) for v in value.values()]
    if isinstance(value, list):
        return [_as_secrets(v) for v in value]
    return SecretStr(str(value)) if value not in (None, "") else None


def _state_problem(url: str) -> tuple[str, str] | None:
    """What is wrong with a `state:` URL, and a hint; None if it names a database.

    The messages show the URL without its password."""
    if is_postgres(url):
        problem = url_problem(url)
        return (problem, "postgresql://user:password@host:5432/database") if problem else None
    if not url.startswith("sqlite:///"):
        hint = "use sqlite:///path/to/file.db, or postgresql://user:password@host/database"
        return f"unsupported state URL {redact_url(url)!r}", hint
    path = url.removeprefix("sqlite:///")
    if path.strip() in ("", ":memory:"):
        hint = (
            "use a file such as sqlite:///state/trade-monitor.db: state in memory is lost"
            " at exit, so every article would alert again after a restart"
        )
        return f"state {url!r} is not a database file", hint
    return None


def _substitute(doc: Document, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    """`${VAR}` and `${VAR:-default}` in every string, from the environment."""
    if isinstance(value, dict):
        return {k: _substitute(doc, v, (*loc, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(doc, v, (*loc, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problems.append(
            doc.problem(
                loc,
                f"environment variable {name} is not set",
                key_path(loc),
                f"set {name}, or write ${{{name}:-default}} to allow it to be empty",
            )
        )
        return ""

    return ENV_VAR.sub(replace, value)


def _typed(
    doc: Document,
    items: list[Any],
    section: str,
    registry: Registry[C, Any],
    problems: list[Problem],
) -> list[C]:
    """Validate each entry of `sources` or `notifiers` with its own type's model."""
    built: list[C] = []
    types = registry.table()
    seen: set[str] = set()
    for i, item in enumerate(items):
        loc: Loc = (section, i)
        if item is SKIP:  # an unknown catalogue id, reported already
            continue
        if not isinstance(item, dict):
            problems.append(doc.problem(loc, "expected a mapping with id and type", key_path(loc)))
            continue
        kind = item.get("type")
        if kind not in types:
            hint = did_you_mean(str(kind), types) or f"types: {', '.join(types)}"
            if why := registry.failure(str(kind)):
                hint = f"{hint}; {why}"  # a plugin by that name is installed but broken
            message = f"unknown type {kind!r}" if kind else "missing required key `type`"
            problems.append(doc.problem((*loc, "type"), message, key_path((*loc, "type")), hint))
            continue
        if item.get("id") in seen:
            message = f"duplicate id `{item['id']}`"
            problems.append(doc.problem((*loc, "id"), message, key_path((*loc, "id"))))
            continue
        seen.add(str(item.get("id")))
        model = types[kind].config
        try:
            built.append(model.model_validate(item))
        except ValidationError as exc:
            problems.extend(validation_problems(doc, loc, exc, model))
    return built
