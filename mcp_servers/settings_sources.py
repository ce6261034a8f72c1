"""Where settings come from, for the MCP servers' settings and the agent's configuration alike: a YAML file,
and the environment over it, under the prefix `FIREBREAK_` (a nested field joined by `__`:
`FIREBREAK_PROMETHEUS__URL`).

A secret (a `SecretStr` field) may instead be given as `NAME_FILE=path`, the way Kubernetes and Docker mount
secrets: the file's content, without its trailing newline, is the value, and `NAME` itself wins over it.
Only secrets are read this way: a CA file's variable names a file that must stay a path.

Settings built in code hold what the code passes and nothing else, so neither a test nor the harness ever
picks up the environment of whoever runs it; `from_sources` is the one way the environment and a file come in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, get_args

import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class InvalidSettings(ValueError):
    """A settings file or variable that cannot be the settings: not YAML, not a mapping, or a value the model
    refuses. Its message names the file and the field."""


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML file holds (an empty file holds an empty one)."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InvalidSettings(f"{path}: not YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidSettings(f"{path}: expected a mapping, not a {type(loaded).__name__}")
    return loaded


class YamlFile(YamlConfigSettingsSource):
    """A YAML settings file, which must hold a mapping."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        return read_yaml_mapping(Path(file_path))


def with_secret_files(env: Mapping[str, str], secrets: Sequence[str]) -> dict[str, str]:
    """`env` with each secret variable of `secrets` that is unset read from the file its `_FILE` names."""
    resolved = dict(env)
    for name in secrets:
        path = env.get(f"{name}_FILE")
        if path and not env.get(name):
            resolved[name] = Path(path).read_text().strip()
    return resolved


def secret_fields(model: type[BaseModel]) -> Iterator[tuple[str, ...]]:
    """The path of every `SecretStr` field of a model, through its nested models."""
    for name, field in model.model_fields.items():
        for kind in (field.annotation, *get_args(field.annotation)):
            if kind is SecretStr:
                yield (name,)
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from ((name, *inner) for inner in secret_fields(kind))


class PrefixedEnvironment(EnvSettingsSource):
    """The variables under the settings' prefix, from a given mapping (the process's environment, or a test's),
    with `NAME_FILE` for each secret."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        config = settings_cls.model_config
        prefix, nested = config.get("env_prefix", ""), config.get("env_nested_delimiter") or "__"
        secrets = [(prefix + nested.join(path)).upper() for path in secret_fields(settings_cls)]
        self._env = with_secret_files(env, secrets)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._env.items() if value != ""}


class LayeredSettings(BaseSettings):
    """Settings that `from_sources` reads from the environment over a YAML file, and code builds from exactly
    what it passes."""

    model_config = SettingsConfigDict(env_prefix="FIREBREAK_", env_nested_delimiter="__", case_sensitive=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @classmethod
    def from_sources(cls, *, what: str, env: Mapping[str, str] | None = None, yaml_file: Path | None = None,
                     also: Sequence[PydanticBaseSettingsSource] = ()) -> Self:
        """The settings from the prefixed environment (the process's unless `env` is given), then the sources of
        `also` in their order, then `yaml_file`. `what` names the settings in an error."""
        env = os.environ if env is None else env
        if yaml_file is not None and not yaml_file.is_file():
            raise FileNotFoundError(f"{yaml_file}: no such file")
        sources = [PrefixedEnvironment(cls, env), *also]
        if yaml_file is not None:
            sources.append(YamlFile(cls, yaml_file=yaml_file))
        try:
            # `_build_sources` is BaseSettings' own keyword for sources built by the caller; the signature that
            # type checkers derive for a model lists its fields alone.
            return cls(_build_sources=(tuple(sources), {}))  # type: ignore[call-arg]
        except ValidationError as error:
            origin = f"{yaml_file} and the environment" if yaml_file is not None else "the environment"
            raise InvalidSettings(f"{origin}: invalid {what}: {error}") from None
