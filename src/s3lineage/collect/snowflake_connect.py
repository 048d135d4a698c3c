"""Connecting to Snowflake: settings, credentials, and errors turned into SourceError.

Settings come from lineage.toml first, then ``SNOWFLAKE_*`` environment variables.
Secrets (SNOWFLAKE_PASSWORD, SNOWFLAKE_PRIVATE_KEY_PASSPHRASE) come only from the
environment; they are never stored on objects, logged, or put in a message: every
connector message we quote passes through :func:`redact` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from s3lineage.collect import snowflake_sql
from s3lineage.collect.live import SourceError
from s3lineage.config import SourceConfig

LOGIN_TIMEOUT_SECONDS = 60  # the connector's default (120 s, with retries) hides typos

Connect = Callable[..., Any]

# Setting → environment variable consulted when lineage.toml does not set it.
_ENV = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
    "role": "SNOWFLAKE_ROLE",
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "authenticator": "SNOWFLAKE_AUTHENTICATOR",
    "private_key_file": "SNOWFLAKE_PRIVATE_KEY_FILE",
    "host": "SNOWFLAKE_HOST",
    "port": "SNOWFLAKE_PORT",
    "protocol": "SNOWFLAKE_PROTOCOL",
}
# Secrets come only from the environment, never from lineage.toml.
PASSWORD_ENV = "SNOWFLAKE_PASSWORD"
PASSPHRASE_ENV = "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and as whom to connect; no secrets (they are read from the environment)."""

    account: str | None
    user: str | None
    role: str | None
    warehouse: str | None
    authenticator: str | None
    private_key_file: str | None
    host: str | None
    port: int | None
    protocol: str | None

    @classmethod
    def resolve(cls, source: SourceConfig, environ: Mapping[str, str]) -> ConnectionSettings:
        """Config settings first, then ``SNOWFLAKE_*`` environment variables."""
        values: dict[str, Any] = {}
        for key, env in _ENV.items():
            value = source.settings.get(key)
            if value is None or value == "":
                value = environ.get(env) or None
            values[key] = str(value) if value is not None else None
        port = values["port"]
        if port is not None and not port.isdigit():
            raise SourceError(
                source.name,
                f"port must be a number, not {port!r}",
                "set `port` (or SNOWFLAKE_PORT) to e.g. 443",
            )
        values["port"] = int(port) if port is not None else None
        return cls(**values)


def connect_params(
    source: str, settings: ConnectionSettings, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Keyword arguments for ``connect``: the settings, then the credential (from
    ``environ``): a key pair when ``private_key_file`` is set, else SNOWFLAKE_PASSWORD,
    else nothing when an ``authenticator`` (externalbrowser, oauth …) is set."""
    s = settings
    if not s.account:
        raise SourceError(
            source,
            "no Snowflake account is configured",
            "set `account` in lineage.toml or SNOWFLAKE_ACCOUNT (e.g. myorg-myaccount)",
        )
    if not s.user and not s.authenticator:
        raise SourceError(
            source,
            "no Snowflake user is configured",
            "set `user` in lineage.toml or SNOWFLAKE_USER",
        )
    params: dict[str, Any] = {
        "account": s.account,
        "user": s.user,
        "role": s.role,
        "warehouse": s.warehouse,
        "authenticator": s.authenticator,
        "host": s.host,
        "port": s.port,
        "protocol": s.protocol,
        "application": "s3lineage",
        "login_timeout": LOGIN_TIMEOUT_SECONDS,
        # UTC so TIMESTAMP_LTZ values come back comparable with the cursor's times.
        "session_parameters": {"QUERY_TAG": snowflake_sql.OWN_QUERY_TAG, "TIMEZONE": "UTC"},
    }
    params = {k: v for k, v in params.items() if v is not None}
    password = environ.get(PASSWORD_ENV)
    if s.private_key_file:
        params["private_key"] = private_key_der(
            source, s.private_key_file, environ.get(PASSPHRASE_ENV)
        )
    elif password:
        params["password"] = password
    elif not s.authenticator:
        raise SourceError(
            source,
            "no Snowflake credential is available",
            f"set {PASSWORD_ENV}, or `private_key_file` for key-pair auth "
            f"(passphrase in {PASSPHRASE_ENV}), or `authenticator`",
        )
    return params


def private_key_der(source: str, path: str, passphrase: str | None) -> bytes:
    """The PEM private key at ``path`` as unencrypted PKCS#8 DER, for ``private_key=``."""
    from cryptography.hazmat.primitives import serialization

    try:
        with open(os.path.expanduser(path), "rb") as handle:
            pem = handle.read()
    except OSError as err:
        raise SourceError(
            source,
            f"cannot read private_key_file {path}: {err.strerror or err}",
            "point `private_key_file` (or SNOWFLAKE_PRIVATE_KEY_FILE) at the PEM private key",
        ) from None
    try:
        key = serialization.load_pem_private_key(
            pem, password=passphrase.encode() if passphrase else None
        )
    except (TypeError, ValueError):
        # Neither message is echoed: cryptography's text is vague and we never risk
        # repeating the passphrase. The two usual causes are named instead.
        raise SourceError(
            source,
            f"cannot load the private key in {path}",
            f"check that it is a PEM private key and that {PASSPHRASE_ENV} "
            "is set (only) for an encrypted key, with the right "
            "passphrase",
        ) from None
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The secret values in ``environ``, to scrub from any message we build."""
    return tuple(v for v in (environ.get(PASSWORD_ENV), environ.get(PASSPHRASE_ENV)) if v)


def _connector(source: str) -> Any:
    """The ``snowflake.connector`` package, or a SourceError naming the extra to install."""
    try:
        import snowflake.connector
        import snowflake.connector.errors  # loads the submodule: callers use .errors
    except ImportError:
        raise SourceError(
            source,
            "snowflake-connector-python is not installed",
            "pip install 's3lineage[snowflake]'",
        ) from None
    return snowflake.connector


def default_connect(source: str) -> Connect:
    """``snowflake.connector.connect``, or a SourceError naming the extra to install."""
    return _connector(source).connect


# --- errors ---------------------------------------------------------------------------

# Server codes for rejected credentials (the connector's CREDENTIAL_REJECTION_GS_CODES) and
# its own "no user / no password / bad private key" codes.
_CREDENTIAL_ERRNOS = frozenset({390100, 390144, *range(394300, 394307), 251005, 251006, 251008})
_CREDENTIAL_HINTS = re.compile(
    r"incorrect username or password|jwt token|authentication failed|invalid private key",
    re.IGNORECASE,
)
_ROLE_HINT = re.compile(r"role .*(does not exist|not authorized|not granted)", re.IGNORECASE)
_NO_WAREHOUSE_ERRNO = 606
_NO_WAREHOUSE_HINT = re.compile(
    r"no active warehouse|warehouse .*(does not exist|suspended)", re.IGNORECASE
)
_MISSING_ERRNOS = frozenset({2003, 3001, 2043})  # does not exist or not authorized; no privilege
_MISSING_HINT = re.compile(
    r"does not exist or not authorized|insufficient privileges", re.IGNORECASE
)
_UNREACHABLE_ERRNOS = frozenset({250001, 250003, 250005, 251009, 251011, 251012})


def connector_errors(source: str) -> Any:
    """``snowflake.connector.errors``, whose classes the connector (and fakesnow) raise."""
    return _connector(source).errors


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret value replaced by ``***``.

    >>> redact("login as bob with hunter2 failed", ("hunter2",))
    'login as bob with *** failed'
    """
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _reason(err: BaseException, secrets: tuple[str, ...]) -> str:
    """The connector's message: first line, secrets removed, at most 300 characters."""
    lines = str(err).strip().splitlines() or [type(err).__name__]
    text = redact(lines[0].strip(), secrets)
    return text if len(text) <= 300 else text[:297] + "..."


def _errno(err: BaseException) -> int:
    value = getattr(err, "errno", None)
    return value if isinstance(value, int) else -1


def connect_error(
    source: str, err: BaseException, settings: ConnectionSettings, secrets: tuple[str, ...]
) -> SourceError:
    """The SourceError for a failed ``connect``: missing account, rejected credentials,
    unknown role, or an account that cannot be reached."""
    errno, reason = _errno(err), _reason(err, secrets)
    account = settings.account or "?"
    if errno == 251001:
        return SourceError(
            source,
            "no Snowflake account is configured",
            "set `account` in lineage.toml or SNOWFLAKE_ACCOUNT",
        )
    if (
        errno in _CREDENTIAL_ERRNOS
        or getattr(err, "sqlstate", None) == "28000"
        or _CREDENTIAL_HINTS.search(reason)
    ):
        return SourceError(
            source,
            f"Snowflake account {account!r} rejected the credentials of user "
            f"{settings.user!r} ({reason})",
            f"check `user` (or SNOWFLAKE_USER) and {PASSWORD_ENV}, or for "
            f"key-pair auth `private_key_file` and {PASSPHRASE_ENV} (the "
            "public key must be set on the user)",
        )
    if errno == 390189 or _ROLE_HINT.search(reason):
        return SourceError(
            source,
            f"role {settings.role!r} cannot be used ({reason})",
            f"set `role` (or SNOWFLAKE_ROLE) to a role granted to the user, or "
            f"GRANT ROLE {settings.role or '<role>'} TO USER "
            f"{settings.user or '<user>'}",
        )
    where = f"{settings.host}:{settings.port or 443}" if settings.host else f"account {account!r}"
    return SourceError(
        source,
        f"cannot connect to Snowflake {where} ({reason})",
        "check `account` (orgname-accountname or locator.region), `host`, "
        "`port`, `protocol` and network access to Snowflake; if they are "
        "right, check the credentials",
    )


def query_error(
    source: str,
    err: BaseException,
    what: str,
    missing_fix: str | None,
    secrets: tuple[str, ...],
) -> SourceError:
    """The SourceError for a failed statement: no warehouse, a missing privilege (with the
    GRANT in ``missing_fix``), a lost connection, or anything else, named by ``what``."""
    errno, reason = _errno(err), _reason(err, secrets)
    if errno == _NO_WAREHOUSE_ERRNO or _NO_WAREHOUSE_HINT.search(reason):
        return SourceError(
            source,
            f"{what}: no usable warehouse ({reason})",
            "set `warehouse` (or SNOWFLAKE_WAREHOUSE) to a running warehouse "
            "and GRANT USAGE ON WAREHOUSE <warehouse> TO ROLE <role>",
        )
    if missing_fix and (errno in _MISSING_ERRNOS or _MISSING_HINT.search(reason)):
        return SourceError(source, f"{what}: not authorized ({reason})", missing_fix)
    if errno in _UNREACHABLE_ERRNOS or type(err).__name__ in ("OperationalError", "InterfaceError"):
        return SourceError(
            source,
            f"{what}: lost the connection to Snowflake ({reason})",
            "check network access to the account and run again; an interrupted run's cursor is not saved",
        )
    return SourceError(
        source,
        f"{what} failed ({reason})",
        "check the role's privileges and the statement in s3lineage/collect/snowflake_sql.py",
    )
