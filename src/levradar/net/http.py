"""The venues' JSON-over-HTTP client on httpx: one pooled connection per venue, an overall deadline per request,
per-venue request budgets, retries with jittered backoff, Retry-After honoured.

Retried: 429 / 418 (after ``Retry-After`` when given, else the backoff), 5xx, timeouts, dropped connections,
replies that are not HTTP, and truncated or invalid JSON. Not retried: other 4xx (the request itself is wrong) and a
refused connection (nothing listens there: retrying only makes an offline sync slow). No sleep follows the last
attempt. Every failure names the venue, the URL and what happened.

Why httpx and not urllib: urllib sends ``Connection: close`` (a new TCP and TLS handshake per request) and has no
overall deadline — its timeout is per socket read, so a server dripping a byte every few seconds holds a request
for minutes. The deadline here is checked between the chunks of the body as they arrive.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class HttpError(RuntimeError):
    """A request that failed for good. ``status``: a final 4xx answer; ``answered``: whether the venue answered
    over HTTP at all (false when refused, timed out or dropped every time)."""

    def __init__(
        self, venue: str, url: str, problem: str, status: int | None = None, *, answered: bool | None = None
    ) -> None:
        super().__init__(f"{venue}: {url}: {problem}")
        self.venue, self.url, self.problem, self.status = venue, url, problem, status
        self.answered = status is not None if answered is None else answered


class _DeadlinePassed(Exception):
    """The whole answer did not arrive within the request's deadline."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    timeout_s: float = 10.0  # connect and each read
    deadline_s: float = 30.0  # the whole request, headers to last byte

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so clients that failed together do
        not retry together."""
        full = float(min(self.max_delay_s, self.base_delay_s * 2**attempt))
        return full / 2 + (rng or random).uniform(0.0, full / 2)


@dataclass
class RateLimiter:
    """Token buckets per endpoint bucket name: ``rate`` requests per second, bursts up to ``burst``."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slept_until: float = float("-inf")  # time has passed at least until here: what this limiter waited for

    def acquire(self, bucket: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens (a venue's request weight) from ``bucket``, waiting until they are there. A wait
        counts as elapsed even when ``sleep`` returns at once (tests inject one), so the limiter never spins."""
        cost = min(cost, self.burst)
        while True:
            with self._lock:
                now = max(self.clock(), self._slept_until)
                tokens, last = self._state.get(bucket, (self.burst, now))
                tokens = min(self.burst, tokens + (now - last) * self.rate)
                if tokens >= cost:
                    self._state[bucket] = (tokens - cost, now)
                    return
                self._state[bucket] = (tokens, now)
                wait = (cost - tokens) / self.rate
                self._slept_until = now + wait
            self.sleep(wait)


@dataclass
class HttpClient:
    venue: str
    base_url: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    sleep: Callable[[float], None] = time.sleep
    weights: Callable[[str], float] = lambda bucket: (
        1.0
    )  # request weight per bucket (documented venue limits)
    attempts_made: int = 0  # every HTTP attempt, for reports and tests
    _client: httpx.Client | None = field(default=None, repr=False)

    def get_json(self, path: str, params: dict[str, Any] | None = None, bucket: str = "default") -> Any:
        return self._request("GET", f"{self.base_url}{path}", params, None, bucket)

    def post_json(self, path: str, body: dict[str, Any], bucket: str = "default") -> Any:
        return self._request("POST", f"{self.base_url}{path}", None, json.dumps(body).encode(), bucket)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.policy.timeout_s),
                headers={"Content-Type": "application/json", "User-Agent": "levradar"},
            )
        return self._client

    def _request(
        self, method: str, url: str, params: dict[str, Any] | None, data: bytes | None, bucket: str
    ) -> Any:
        problem, delay, answered = "no attempt made", 0.0, False
        for attempt in range(self.policy.attempts):
            if attempt:
                self.sleep(delay)  # only between attempts: never after the last one
            if self.limiter is not None:
                self.limiter.acquire(self.venue, self.weights(bucket))  # one budget per venue, weighted
            self.attempts_made += 1
            delay = self.policy.backoff(attempt)
            try:
                status, headers, raw = self._once(method, url, params, data)
                answered = True
            except httpx.ConnectError as exc:
                if "refused" in str(exc).lower():
                    raise HttpError(self.venue, url, f"connection refused ({exc})") from None
                problem = f"connection failed ({exc})"
                continue
            except httpx.TimeoutException as exc:
                problem = f"timed out after {self.policy.timeout_s:g} s ({type(exc).__name__})"
                continue
            except _DeadlinePassed:
                problem = f"no complete answer within the {self.policy.deadline_s:g} s deadline"
                continue
            except (httpx.TransportError, httpx.DecodingError) as exc:  # dropped, reset, not HTTP at all
                problem = f"connection dropped or not HTTP ({type(exc).__name__}: {exc})"
                continue
            if status in (418, 429):
                wait = _retry_after(headers.get("Retry-After"))
                problem = f"HTTP {status} (rate limited)"
                delay = max(wait if wait is not None else 0.0, delay)
                continue
            if 500 <= status < 600:
                problem = f"HTTP {status}"
                continue
            if status >= 400:
                raise HttpError(self.venue, url, f"HTTP {status}: {raw[:200]!r}", status)
            try:
                return json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                problem = f"invalid or truncated JSON ({exc})"
        raise HttpError(
            self.venue, url, f"gave up after {self.policy.attempts} attempts: {problem}", answered=answered
        )

    def _once(
        self, method: str, url: str, params: dict[str, Any] | None, data: bytes | None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One attempt: status, headers and the whole body, within the overall deadline."""
        deadline = time.monotonic() + self.policy.deadline_s
        with self._http().stream(method, url, params=params, content=data) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _DeadlinePassed()
            if time.monotonic() > deadline:
                raise _DeadlinePassed()
            return response.status_code, response.headers, b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
