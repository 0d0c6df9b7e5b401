"""A small JSON-over-HTTP client: per-endpoint rate limits, retries with backoff, Retry-After honoured.

Retried: 429 / 418 (after ``Retry-After`` when given, else the backoff), 5xx, timeouts, connection errors and
truncated or invalid JSON. Not retried: other 4xx (the request itself is wrong). Every failure names the venue,
the URL and what happened.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any


class HttpError(RuntimeError):
    """A request that failed for good."""

    def __init__(self, venue: str, url: str, problem: str, status: int | None = None) -> None:
        super().__init__(f"{venue}: {url}: {problem}")
        self.venue, self.url, self.problem, self.status = venue, url, problem, status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    timeout_s: float = 10.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2**attempt))


@dataclass
class RateLimiter:
    """Token buckets per endpoint bucket name: ``rate`` requests per second, bursts up to ``burst``."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, bucket: str) -> None:
        while True:
            with self._lock:
                now = self.clock()
                tokens, last = self._state.get(bucket, (self.burst, now))
                tokens = min(self.burst, tokens + (now - last) * self.rate)
                if tokens >= 1.0:
                    self._state[bucket] = (tokens - 1.0, now)
                    return
                self._state[bucket] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            self.sleep(wait)


@dataclass
class HttpClient:
    venue: str
    base_url: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    sleep: Callable[[float], None] = time.sleep
    attempts_made: int = 0  # every HTTP attempt, for reports and tests

    def get_json(self, path: str, params: dict[str, Any] | None = None, bucket: str = "default") -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._request("GET", f"{self.base_url}{path}{query}", None, bucket)

    def post_json(self, path: str, body: dict[str, Any], bucket: str = "default") -> Any:
        return self._request("POST", f"{self.base_url}{path}", json.dumps(body).encode(), bucket)

    def _request(self, method: str, url: str, data: bytes | None, bucket: str) -> Any:
        problem = "no attempt made"
        for attempt in range(self.policy.attempts):
            if self.limiter is not None:
                self.limiter.acquire(bucket)
            self.attempts_made += 1
            request = urllib.request.Request(
                url, data=data, method=method, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.policy.timeout_s) as response:
                    raw = response.read()
                return json.loads(raw)
            except urllib.error.HTTPError as exc:
                status = exc.code
                if status in (418, 429):
                    wait = _retry_after(exc.headers.get("Retry-After"))
                    problem = f"HTTP {status} (rate limited)"
                    self.sleep(max(wait if wait is not None else 0.0, self.policy.backoff(attempt)))
                    continue
                if 500 <= status < 600:
                    problem = f"HTTP {status}"
                    self.sleep(self.policy.backoff(attempt))
                    continue
                raise HttpError(self.venue, url, f"HTTP {status}: {exc.read()[:200]!r}", status) from None
            except TimeoutError as exc:
                problem = f"timed out after {self.policy.timeout_s:g} s ({exc})"
            except urllib.error.URLError as exc:
                problem = f"connection failed ({exc.reason})"
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                problem = f"invalid or truncated JSON ({exc})"
            except ConnectionError as exc:
                problem = f"connection dropped ({exc})"
            self.sleep(self.policy.backoff(attempt))
        raise HttpError(self.venue, url, f"gave up after {self.policy.attempts} attempts: {problem}")


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
