"""Retry delays (capped exponential backoff with full jitter) and a token-bucket rate limiter."""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying throttled or unprocessed requests.

    The delay before retry ``n`` (0-based) is uniform in ``[0, min(max_delay_s, base_delay_s * 2**n)]``
    ("full jitter"), which spreads retries of many tasks over time instead of synchronising them.

    Attributes
    ----------
    max_retries : int
        Retries after the first attempt; then the caller gives up with an error.
    base_delay_s : float
        Cap of the first delay.
    max_delay_s : float
        Cap of every delay.
    """

    max_retries: int = 10
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay_s < 0 or self.max_delay_s < 0:
            raise InvalidArgumentError(
                f"RetryPolicy values must not be negative, got max_retries={self.max_retries}, "
                f"base_delay_s={self.base_delay_s}, max_delay_s={self.max_delay_s}."
            )

    def cap(self, attempt: int) -> float:
        """The upper bound of the delay before retry ``attempt`` (0-based)."""
        # min() first on the exponent keeps 2**attempt from growing without bound.
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int, rng: Optional[random.Random] = None) -> float:
        """A random delay before retry ``attempt`` (0-based), full jitter."""
        return (rng or random).uniform(0.0, self.cap(attempt))


class TokenBucket:
    """A thread-safe token bucket: at most ``rate`` tokens per second on average.

    ``acquire(n)`` waits until the bucket holds ``min(n, capacity)`` tokens and then takes ``n``, so a
    request larger than the bucket goes into debt that later callers wait out; the long-run rate is
    ``rate`` either way.

    Parameters
    ----------
    rate : float
        Tokens (items) per second; must be positive.
    capacity : float, optional
        Burst size; defaults to ``max(rate, 1)`` (one second's worth).
    clock, sleep : callables, optional
        Time source and sleep function (injectable for tests).
    """

    def __init__(
        self,
        rate: float,
        capacity: Optional[float] = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise InvalidArgumentError(f"A rate limit must be positive, got {rate!r} items per second.")
        self.rate = float(rate)
        self.capacity = float(capacity) if capacity is not None else max(self.rate, 1.0)
        if not self.capacity > 0:
            raise InvalidArgumentError(f"A token bucket capacity must be positive, got {capacity!r}.")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, n: float = 1.0) -> float:
        """Take ``n`` tokens, waiting as long as needed.

        Parameters
        ----------
        n : float
            Tokens to take (items about to be sent).

        Returns
        -------
        float
            Seconds waited.
        """
        waited = 0.0
        need = min(float(n), self.capacity)
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                # The tolerance absorbs float rounding of (now - last) * rate, which could otherwise
                # leave a waiter a hair short forever when the clock's resolution is coarse.
                if self._tokens >= need - 1e-9:
                    self._tokens -= n
                    return waited
                pause = (need - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause
