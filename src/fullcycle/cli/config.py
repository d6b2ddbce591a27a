"""The command-line client's settings file: which server to talk to, and a token per server.

It lives at `$XDG_CONFIG_HOME/fullcycle/config.toml` (default `~/.config/fullcycle/`), is
written by `fullcycle login` with mode 0600 because it holds secrets, and looks like this:

    url = "http://127.0.0.1:8080"

    [servers."http://127.0.0.1:8080"]
    token = "fc_..."
    token_id = 7

A token is kept per server URL so that a token is only ever sent to the server that issued it.
`token_id` is set when `login` created the token itself, so that `logout` can revoke it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HEADER = "# fullcycle command-line settings, written by `fullcycle login`.\n"


class ConfigError(Exception):
    """The settings file exists but cannot be read or understood."""


@dataclass(frozen=True)
class StoredLogin:
    token: str
    token_id: int | None = None


@dataclass
class ClientConfig:
    url: str | None = None
    servers: dict[str, StoredLogin] = field(default_factory=dict)


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fullcycle" / "config.toml"


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


def load_config(path: Path | None = None) -> ClientConfig:
    """Read the settings file; a missing file is an empty configuration."""
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ClientConfig()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    return _config_from(data, path)


def _config_from(data: dict[str, object], path: Path) -> ClientConfig:
    url = data.get("url")
    servers = data.get("servers", {})
    if not (url is None or isinstance(url, str)) or not isinstance(servers, dict):
        raise ConfigError(f"{path}: 'url' must be a string and 'servers' a table")
    config = ClientConfig(url=normalise_url(url) if url else None)
    for server, entry in servers.items():
        token = entry.get("token") if isinstance(entry, dict) else None
        token_id = entry.get("token_id") if isinstance(entry, dict) else None
        if not isinstance(token, str) or not (token_id is None or isinstance(token_id, int)):
            raise ConfigError(f"{path}: [servers.{_quote(server)}] needs a string 'token'")
        config.servers[normalise_url(server)] = StoredLogin(token, token_id)
    return config


def save_config(config: ClientConfig, path: Path | None = None) -> Path:
    """Write the settings atomically, readable by the owner only (0600, directory 0700)."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(to_toml(config))
        os.chmod(temporary, 0o600)  # in case a umask or an old file got in the way
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def to_toml(config: ClientConfig) -> str:
    lines = [HEADER]
    if config.url:
        lines.append(f"url = {_quote(config.url)}\n")
    for server, login in sorted(config.servers.items()):
        lines.append(f"\n[servers.{_quote(server)}]\n")
        lines.append(f"token = {_quote(login.token)}\n")
        if login.token_id is not None:
            lines.append(f"token_id = {login.token_id}\n")
    return "".join(lines)


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _quote(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped."""
    escaped = "".join(
        _ESCAPES.get(char) or (f"\\u{ord(char):04X}" if _is_control(char) else char)
        for char in text
    )
    return f'"{escaped}"'


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or ord(char) == 0x7F
