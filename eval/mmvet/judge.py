"""Judges that turn (question, ground truth, prediction) into a score in [0, 1]."""
import time
from dataclasses import dataclass

from eval.mmvet.offline import NAME as OFFLINE_NAME, rule_based_score
from eval.mmvet.prompt import parse_score
from eval.mmvet.protocol import Protocol
from eval.mmvet.retry import BackoffPolicy, call_with_backoff

# MM-Vet's schedule: the first request at temperature 0; after an unreadable reply the item is
# asked afresh with the retry instruction, the 1st retry at 0 again and each later one 0.5
# warmer; once 5 retries have been sent the item scores 0.0 without reading the last reply.
# Requests: temperatures 0, 0, 0.5, 1.0, 1.5, 2.0.
MAX_TRIES = 5
TEMPERATURE_STEP = 0.5
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

    def __init__(self, client, model: str, policy: BackoffPolicy, protocol: Protocol, sleep=time.sleep):
        self.client, self.name, self.policy, self.protocol = client, model, policy, protocol
        self.sleep = sleep

    def _reply(self, content: str, temperature: float) -> tuple[str | None, int]:
        def request():
            return self.client.chat.completions.create(
                model=self.name, messages=[{"role": "user", "content": content}],
                temperature=temperature, max_tokens=MAX_TOKENS)
        response, retries = call_with_backoff(request, self.policy, self.sleep)
        # A reply without choices or content is treated like an unreadable one.
        message = response.choices[0].message if response.choices else None
        return (message.content if message is not None else None), retries

    def grade(self, question: str, ground_truth: str, prediction: str) -> Grade:
        temperature = 0.0
        reply, network_retries = self._reply(
            self.protocol.message(question, ground_truth, prediction), temperature)
        tries, score = 1, parse_score(reply)
        retry_content = self.protocol.retry_message(question, ground_truth, prediction)
        while score is None:
            reply, retries = self._reply(retry_content, temperature)
            network_retries += retries
            tries += 1
            temperature += TEMPERATURE_STEP
            if tries > MAX_TRIES:
                return Grade(0.0, tries, True, network_retries, reply or "")
            score = parse_score(reply)
        return Grade(score, tries, False, network_retries, reply or "")
