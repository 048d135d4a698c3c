"""The pyatlan client, and every call s3lineage makes through it, with an outer retry.

pyatlan already retries 429/5xx in its transport (honouring ``Retry-After``), but when it
gives up it behaves unevenly: a final 429 raises ``RateLimitError``, a final 503 makes the
low-level call return ``None`` (so ``save()`` then fails with a ``TypeError``), other 5xx
raise ``ApiError``. :class:`AtlanCalls` turns all of those into :class:`TransientError`
and retries the whole call a few more rounds with exponential backoff (at least the last
``Retry-After`` the server sent), so a throttled tenant slows a publish down instead of
failing it. Anything else (400, 404, 409 …) is :class:`RejectedError`: not retried,
reported against the assets of the request.

The base URL and API key come only from ``ATLAN_BASE_URL`` / ``ATLAN_API_KEY`` and are
never logged or put into a report.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from s3lineage.errors import S3LineageError

LOG = logging.getLogger("s3lineage.publish")
T = TypeVar("T")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class PublishError(S3LineageError):
    """Publishing cannot start (credentials, connections): the message says what to fix."""


class TransientError(Exception):
    """Atlan stayed throttled or unavailable after every retry."""


class RejectedError(Exception):
    """Atlan refused a request (not retryable): ``status`` and a message without secrets."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


def make_client(retry: Any = None) -> Any:
    """An AtlanClient from ``ATLAN_BASE_URL`` / ``ATLAN_API_KEY`` (nothing else is read)."""
    try:
        from pyatlan.client.atlan import AtlanClient
    except ImportError as err:  # the optional dependency
        raise PublishError("publishing to Atlan needs pyatlan: pip install 's3lineage[atlan]'") from err
    base_url = os.environ.get("ATLAN_BASE_URL", "").strip()
    api_key = os.environ.get("ATLAN_API_KEY", "").strip()
    missing = [name for name, value in (("ATLAN_BASE_URL", base_url), ("ATLAN_API_KEY", api_key))
               if not value]
    if missing:
        raise PublishError(f"set {' and '.join(missing)} in the environment to publish to Atlan")
    kwargs: dict[str, Any] = {"base_url": base_url, "api_key": api_key}
    if retry is not None:
        kwargs["retry"] = retry
    try:
        return AtlanClient(**kwargs)
    except ValueError as err:
        # pydantic's message would echo the input values: name the variable only
        raise PublishError("ATLAN_BASE_URL is not a valid URL (a host name with a domain, or an IP)") from err


@dataclass(slots=True)
class CallStats:
    """HTTP exchanges during a publish, as pyatlan's callers see them.

    pyatlan's transport retries below httpx's event hooks, so a request it retried
    counts once here (with its final status); ``retried_rounds`` counts s3lineage's own.
    """

    requests: int = 0
    writes: int = 0
    retried_rounds: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    last_status: int | None = None
    last_retry_after: float = 0.0


class AtlanCalls:
    """Runs SDK calls with the outer retry and counts HTTP requests."""

    def __init__(self, client: Any, max_retries: int = 3, backoff: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.stats = CallStats()
        self._hook_installed = self._install_hook()

    def _install_hook(self) -> bool:
        """Observe every response (status, Retry-After) through httpx's event hooks.

        pyatlan keeps its httpx client private; if that ever changes we lose the counts
        and the Retry-After floor, not correctness.
        """
        session = getattr(self.client, "_session", None)
        hooks = getattr(session, "event_hooks", None)
        if session is None or not isinstance(hooks, dict):
            return False
        stats = self.stats

        def on_response(response: Any) -> None:
            stats.requests += 1
            method = response.request.method
            if method == "DELETE" or (method == "POST" and "/entity/bulk" in str(response.request.url)):
                stats.writes += 1
            stats.statuses[response.status_code] = stats.statuses.get(response.status_code, 0) + 1
            stats.last_status = response.status_code
            retry_after = response.headers.get("Retry-After", "")
            try:
                stats.last_retry_after = float(retry_after) if retry_after else 0.0
            except ValueError:
                stats.last_retry_after = 0.0

        session.event_hooks = {**hooks, "response": [*hooks.get("response", []), on_response]}
        return True

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with retry rounds on transient failures; raises Transient/RejectedError."""
        attempt = 0
        while True:
            self.stats.last_status = None
            self.stats.last_retry_after = 0.0
            try:
                result = fn()
                if result is None:
                    # pyatlan returns None when the last answer was a 503 (see module doc)
                    raise TransientError(f"{what}: no response (HTTP {self.stats.last_status or 503})")
                return result
            except Exception as err:
                transient = self._classify(err)
                if transient is None:
                    raise
                if not transient:
                    raise RejectedError(self._status(err), f"{what}: {_message(err)}") from err
                if attempt >= self.max_retries:
                    raise TransientError(f"{what}: gave up after {attempt + 1} rounds: {_message(err)}") from err
            delay = max(self.backoff * (2 ** attempt), self.stats.last_retry_after)
            attempt += 1
            self.stats.retried_rounds += 1
            LOG.warning("%s: Atlan busy or unavailable; retry round %d in %.1fs", what, attempt, delay)
            self.sleep(delay)

    def _status(self, err: Exception) -> int | None:
        code = getattr(getattr(err, "error_code", None), "http_error_code", None)
        return int(code) if isinstance(code, int) else self.stats.last_status

    def _classify(self, err: Exception) -> bool | None:
        """True: retry; False: rejected; None: a bug of ours, let it propagate."""
        if isinstance(err, TransientError):
            return True
        try:
            import httpx
            from pyatlan.errors import ApiConnectionError, AtlanError, RateLimitError
        except ImportError:  # pragma: no cover - pyatlan is there when a client exists
            return None
        if isinstance(err, (RateLimitError, ApiConnectionError, httpx.HTTPError)):
            return True
        if isinstance(err, AtlanError):
            status = self._status(err)
            return status in RETRYABLE_STATUS or self.stats.last_status in RETRYABLE_STATUS
        if isinstance(err, TypeError) and self.stats.last_status == 503:
            return True  # the None-on-503 quirk surfacing inside pyatlan
        if isinstance(err, TypeError) and not self._hook_installed:
            return True
        return None

    # --- searches -------------------------------------------------------------------------

    def search(self, what: str, build: Callable[[], Any]) -> list[Any]:
        """All results of a FluentSearch (every page), retried as a whole.

        pyatlan's iterator always asks for one more (empty) page; stopping once the
        server's count is reached halves the requests of the usual one-page search.
        """

        def run() -> list[Any]:
            results = build().execute(self.client)
            if results is None:
                return None  # type: ignore[return-value]
            items = list(results.current_page())
            while len(items) < (results.count or 0) and results.next_page():
                page = list(results.current_page())
                if not page:
                    break
                items.extend(page)
            return items

        return self.call(what, run)


def _message(err: Exception) -> str:
    """The error's message, first line only (pyatlan appends causes and user actions)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:500]
