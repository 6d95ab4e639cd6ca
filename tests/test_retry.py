"""The one retry policy (backoff, jitter, attempts, deadline) and the token-bucket rate limiter."""
from __future__ import annotations

import random
import threading
import time

import pytest
from dynamodb_local import FakeClock

from featurespark.errors import InvalidArgumentError
from featurespark.online.rate_limit import TokenBucket
from featurespark.retry import DELTA_CONFLICT_RETRY, DYNAMODB_READ_RETRY, DYNAMODB_WRITE_RETRY, REGISTRY_COMMIT_RETRY, RetryPolicy


def test_backoff_caps_grow_exponentially_up_to_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=9, base_delay_s=0.1, max_delay_s=1.0)
    assert [policy.cap(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.cap(10_000) == 1.0


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)
    rng = random.Random(7)
    delays = [policy.delay(3, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 0.8 for d in delays)
    assert min(delays) < 0.01 and max(delays) > 0.79  # full jitter, not "cap plus a little"


def test_retry_policy_rejects_bad_values() -> None:
    with pytest.raises(InvalidArgumentError, match=r"RetryPolicy.max_attempts must be at least 1, got 0"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidArgumentError, match=r"delays must not be negative, got base_delay_s=-1"):
        RetryPolicy(base_delay_s=-1)
    with pytest.raises(InvalidArgumentError, match=r"deadline_s must be positive or None, got 0"):
        RetryPolicy(deadline_s=0)


def test_attempts_sleep_the_jittered_backoff_between_attempts_and_stop_at_the_bound() -> None:
    clock = FakeClock()
    retries: list[tuple[int, float]] = []
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.1, max_delay_s=0.25)
    seen = list(policy.attempts(sleep=clock.sleep, clock=clock, rng=random.Random(3),
                                on_retry=lambda n, wait: retries.append((n, wait))))
    assert seen == [0, 1, 2, 3]
    assert [n for n, _ in retries] == [1, 2, 3]
    assert clock.sleeps == [wait for _, wait in retries]
    assert all(0.0 <= wait <= cap for (_, wait), cap in zip(retries, [0.1, 0.2, 0.25]))


def test_attempts_stop_at_the_deadline_and_never_sleep_past_it() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=100, base_delay_s=1.0, max_delay_s=1.0, deadline_s=2.5)

    class Fixed(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    seen = list(policy.attempts(sleep=clock.sleep, clock=clock, rng=Fixed()))
    assert seen == [0, 1, 2, 3]  # sleeps 1.0, 1.0, then only the 0.5 s left before the deadline
    assert clock.sleeps == [1.0, 1.0, 0.5]
    assert clock.now == pytest.approx(2.5)


def test_library_policies_have_their_documented_numbers() -> None:
    # The named policies are part of the documented behaviour (docs/architecture.md): keep them deliberate.
    assert (REGISTRY_COMMIT_RETRY.max_attempts, REGISTRY_COMMIT_RETRY.deadline_s) == (8, 120.0)
    assert (DELTA_CONFLICT_RETRY.max_attempts, DELTA_CONFLICT_RETRY.deadline_s) == (6, 300.0)
    assert (DYNAMODB_WRITE_RETRY.max_attempts, DYNAMODB_WRITE_RETRY.max_delay_s) == (11, 5.0)
    assert (DYNAMODB_READ_RETRY.max_attempts, DYNAMODB_READ_RETRY.deadline_s) == (9, 10.0)


def test_token_bucket_allows_a_burst_then_holds_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 25, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire(25) for _ in range(4)]  # 100 items at 50/s with a 25-item burst
    assert waits[0] == 0.0
    assert clock.now == pytest.approx((100 - 25) / 50)
    assert sum(waits) == pytest.approx(1.5)


def test_token_bucket_requests_larger_than_capacity_go_into_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 10, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(25) == 0.0  # takes the full bucket and owes 15
    assert bucket.acquire(1) == pytest.approx(1.6)  # (15 owed + 1) / 10 per second


def test_token_bucket_refills_while_idle_but_not_past_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 5, clock=clock, sleep=clock.sleep)
    bucket.acquire(5)
    clock.now += 100.0  # idle for a long time
    assert bucket.acquire(5) == 0.0
    assert bucket.acquire(1) == pytest.approx(0.1)


def test_token_bucket_is_shared_safely_between_threads() -> None:
    bucket = TokenBucket(1000, 100)
    started = time.monotonic()

    def take() -> None:
        for _ in range(100):
            bucket.acquire(1)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 400 tokens with 100 in the bucket at 1000/s cannot take less than 0.3 s.
    assert time.monotonic() - started >= 0.28


def test_token_bucket_rejects_non_positive_rate() -> None:
    with pytest.raises(InvalidArgumentError, match=r"A rate limit must be positive, got 0 items per second"):
        TokenBucket(0)
