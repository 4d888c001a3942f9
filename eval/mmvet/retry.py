"""Exponential backoff for judge calls that fail on the network side (or arrive cut off)."""
import json
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import openai

from eval.errors import JudgeError

T = TypeVar("T")


@dataclass(frozen=True)
class BackoffPolicy:
    """Retry up to max_retries times, waiting initial_delay * factor**k (capped) before retry k."""
    max_retries: int = 6
    initial_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0

    def delay(self, retry_index: int) -> float:
        return min(self.max_delay, self.initial_delay * self.factor ** retry_index)


def is_transient(error: Exception) -> bool:
    """Worth retrying: connection trouble, timeouts, rate limits, server-side errors, and a 200
    reply whose body is cut off or not a completion (the client raises JSONDecodeError or
    APIResponseValidationError for those)."""
    if isinstance(error, (json.JSONDecodeError, openai.APIResponseValidationError)):
        return True
    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


def call_with_backoff(call: Callable[[], T], policy: BackoffPolicy,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
    """(call's result, number of retries it took). Gives up with a JudgeError."""
    for retry in range(policy.max_retries + 1):
        try:
            return call(), retry
        except (openai.OpenAIError, json.JSONDecodeError) as e:
            if not is_transient(e):
                raise JudgeError(f"judge request refused: {e}") from e
            if retry == policy.max_retries:
                what = f"reply body is not valid JSON (cut off?): {e}" if isinstance(e, json.JSONDecodeError) else e
                raise JudgeError(f"judge unreachable after {retry} retries: {what}") from e
            sleep(policy.delay(retry))
    raise AssertionError("unreachable")
