"""The one retry policy of featurespark: capped exponential backoff with full jitter and a deadline.

Every I/O path that retries (registry commits, Delta upserts that lost a race, DynamoDB writes and
reads that were throttled or left items unprocessed) loops over :meth:`RetryPolicy.attempts`, so
the backoff rule, the attempt bound and the deadline are the same everywhere and named here:

- the delay before retry ``n`` (0-based) is uniform in ``[0, min(max_delay_s, base_delay_s * 2**n)]``
  ("full jitter", which spreads the retries of many tasks instead of synchronising them);
- at most ``max_attempts`` attempts in all (the first one included);
- no retry starts after ``deadline_s`` seconds from the first attempt, nor sleeps past it.

The policies the library uses are the constants at the end of this module; callers may pass their
own :class:`RetryPolicy` wherever a function takes ``retry=``.

Examples
--------
>>> policy = RetryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
>>> calls = []
>>> for attempt in policy.attempts():
...     calls.append(attempt)
...     if attempt == 1:
...         break
>>> calls
[0, 1]
>>> [round(policy.cap(n), 2) for n in range(3)]
[0.0, 0.0, 0.0]
>>> DYNAMODB_WRITE_RETRY.cap(3)
0.4
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from featurespark.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

__all__ = [
    "DELTA_CONFLICT_RETRY", "DYNAMODB_READ_RETRY", "DYNAMODB_WRITE_RETRY", "GLUE_READ_RETRY",
    "REGISTRY_COMMIT_RETRY", "RetryPolicy",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How often, how long apart and for how long an operation is retried.

    Attributes
    ----------
    max_attempts : int
        Attempts in all, the first one included (1 means no retry).
    base_delay_s : float
        Cap of the first delay; the cap doubles with every retry.
    max_delay_s : float
        Cap of every delay.
    deadline_s : float or None
        No retry starts later than this many seconds after the first attempt, and no sleep goes
        past it; None for no deadline.

    Examples
    --------
    >>> RetryPolicy(max_attempts=4, base_delay_s=0.1, max_delay_s=0.3).cap(2)
    0.3
    """

    max_attempts: int = 11
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    deadline_s: Optional[float] = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidArgumentError(f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}.")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise InvalidArgumentError(
                f"RetryPolicy delays must not be negative, got base_delay_s={self.base_delay_s}, "
                f"max_delay_s={self.max_delay_s}."
            )
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise InvalidArgumentError(f"RetryPolicy.deadline_s must be positive or None, got {self.deadline_s}.")

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self.max_attempts - 1

    def cap(self, retry: int) -> float:
        """Upper bound of the delay before retry ``retry`` (0-based)."""
        # min() on the exponent keeps 2**retry from growing without bound.
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(retry, 62))

    def delay(self, retry: int, rng: Optional[random.Random] = None) -> float:
        """A random delay before retry ``retry`` (0-based): uniform in ``[0, cap(retry)]``."""
        return (rng or random).uniform(0.0, self.cap(retry))

    def attempts(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Optional[random.Random] = None,
        on_retry: Optional[Callable[[int, float], None]] = None,
    ) -> Iterator[int]:
        """Yield attempt numbers ``0, 1, ...``, sleeping the backoff delay before each retry.

        The caller's loop body makes one attempt and ``break``s or ``return``s when it succeeded;
        when the loop ends without that, the attempts (or the deadline) are used up and the caller
        raises its own error, naming what was left undone.

        Parameters
        ----------
        sleep, clock : callables, optional
            Injectable for tests.
        rng : random.Random, optional
            Jitter source.
        on_retry : callable, optional
            Called as ``on_retry(attempt, delay_s)`` before each retry's sleep (counters, logs).
        """
        started = clock()
        for attempt in range(self.max_attempts):
            if attempt:
                wait = self.delay(attempt - 1, rng)
                if self.deadline_s is not None:
                    left = self.deadline_s - (clock() - started)
                    if left <= 0:
                        return
                    wait = min(wait, left)
                if on_retry is not None:
                    on_retry(attempt, wait)
                sleep(wait)
            yield attempt


#: Registry commits that lost a race with another writer: the plan is recomputed and committed again.
REGISTRY_COMMIT_RETRY = RetryPolicy(max_attempts=8, base_delay_s=0.2, max_delay_s=5.0, deadline_s=120.0)
#: Delta upserts (MERGE) that conflicted with a concurrent writer (Delta's optimistic concurrency).
DELTA_CONFLICT_RETRY = RetryPolicy(max_attempts=6, base_delay_s=0.5, max_delay_s=8.0, deadline_s=300.0)
#: DynamoDB writes that were throttled or came back with unprocessed items.
DYNAMODB_WRITE_RETRY = RetryPolicy(max_attempts=11, base_delay_s=0.05, max_delay_s=5.0, deadline_s=300.0)
#: DynamoDB reads (BatchGetItem) that were throttled or left keys unprocessed: short, a lookup is waiting.
DYNAMODB_READ_RETRY = RetryPolicy(max_attempts=9, base_delay_s=0.02, max_delay_s=1.0, deadline_s=10.0)
#: Glue ``GetTable`` calls of the registry's Spark-free snapshot check that were throttled or did not reach Glue.
GLUE_READ_RETRY = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=2.0, deadline_s=15.0)
