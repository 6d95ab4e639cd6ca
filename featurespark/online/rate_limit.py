"""A token-bucket rate limiter for online writes (retries are :mod:`featurespark.retry`'s)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

__all__ = ["TokenBucket"]


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
