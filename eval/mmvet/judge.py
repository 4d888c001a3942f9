"""Judges that turn (question, ground truth, prediction) into a score in [0, 1]."""
import time
from dataclasses import dataclass

from eval.mmvet.offline import NAME as OFFLINE_NAME, rule_based_score
from eval.mmvet.prompt import FOLLOW_UP, grading_message, parse_score
from eval.mmvet.retry import BackoffPolicy, call_with_backoff

MAX_TRIES = 5              # replies asked for before the item scores 0.0
TEMPERATURE_STEP = 0.5     # added after every unreadable reply
MAX_TOKENS = 3             # enough for "0.7" / "1.0"


@dataclass(frozen=True)
class Grade:
    score: float
    tries: int             # judge replies it took (0 for the offline rule)
    failed: bool           # no readable score after MAX_TRIES: scored 0.0
    network_retries: int
    reply: str             # the last raw reply, kept for auditing


class OfflineJudge:
    """Normalised exact/contains matching of the <AND>/<OR> parts (see offline.py)."""
    name = OFFLINE_NAME

    def grade(self, question: str, ground_truth: str, prediction: str) -> Grade:
        return Grade(rule_based_score(ground_truth, prediction), 0, False, 0, "")


class ChatJudge:
    """An LLM behind an OpenAI-compatible chat endpoint, asked for one number per item.

    The client must be built with max_retries=0: network retries happen here,
    under `policy`, so they are counted.
    """

    def __init__(self, client, model: str, policy: BackoffPolicy, sleep=time.sleep):
        self.client, self.name, self.policy, self.sleep = client, model, policy, sleep

    def _reply(self, messages: list[dict], temperature: float) -> tuple[str, int]:
        def request():
            return self.client.chat.completions.create(
                model=self.name, messages=messages, temperature=temperature, max_tokens=MAX_TOKENS)
        response, retries = call_with_backoff(request, self.policy, self.sleep)
        # A reply without choices or content is treated like an unreadable one.
        content = response.choices[0].message.content if response.choices else None
        return content or "", retries

    def grade(self, question: str, ground_truth: str, prediction: str) -> Grade:
        prompt = {"role": "user", "content": grading_message(question, ground_truth, prediction)}
        messages, network_retries, reply = [prompt], 0, ""
        for attempt in range(MAX_TRIES):
            reply, retries = self._reply(messages, temperature=attempt * TEMPERATURE_STEP)
            network_retries += retries
            score = parse_score(reply)
            if score is not None:
                return Grade(score, attempt + 1, False, network_retries, reply)
            # Show the judge its unreadable reply and ask again, a little warmer.
            messages = [prompt, {"role": "assistant", "content": reply},
                        {"role": "user", "content": FOLLOW_UP}]
        return Grade(0.0, MAX_TRIES, True, network_retries, reply)
