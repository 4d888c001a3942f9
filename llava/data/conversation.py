"""Conversation templates: how a list of (role, text) turns becomes the model's prompt text.

A template is an immutable value passed explicitly to whoever needs it (dataset, eval);
there is no global "current template".

Rendering is done as a list of ``Segment``s — prompt pieces and assistant replies — so
that training (``llava.data.preprocess``) and inference tokenise exactly the same pieces:
the generation prompt is, segment for segment, the prefix of the training sequence.

Role names: records may say ``human``/``gpt`` (LLaVA, ShareGPT) or ``user``/``assistant``
(OpenAI style); both map to the canonical ``USER``/``ASSISTANT`` below. Anything else
(including ``system``) is rejected: the system prompt belongs to the template.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Optional, Sequence

from llava.entry import FlagError

USER = "user"
ASSISTANT = "assistant"
ROLE_ALIASES = MappingProxyType({"human": USER, "user": USER, "gpt": ASSISTANT, "assistant": ASSISTANT})

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
# LLaVA-1.5's response-format prompt after a short-answer VQA question (VQAv2, GQA, ...), in training and eval.
SHORT_ANSWER_PROMPT = "Answer the question using a single word or phrase."

Turn = tuple[str, str]  # (canonical role, text)


@dataclass(frozen=True)
class Segment:
    """A piece of rendered text; ``is_reply`` pieces are the ones the loss is computed on."""

    text: str
    is_reply: bool


@dataclass(frozen=True)
class ConversationTemplate:
    """How turns are laid out.

    vicuna_v1 renders ``{system} USER: {q} ASSISTANT: {a}</s>USER: ...``. The space
    between ``ASSISTANT:`` and the reply belongs to the reply segment, so a generation
    prompt ends exactly at ``ASSISTANT:`` and a byte-level BPE sees `` word`` pieces in
    replies at training and at inference alike.
    """

    name: str
    system: str  # "" for none
    user_label: str  # e.g. "USER"
    assistant_label: str  # e.g. "ASSISTANT"
    after_system: str  # between the system prompt and the first user turn
    after_user: str  # after each user message, before the assistant label
    reply_prefix: str  # between the assistant label and the reply
    reply_end: str  # ends every reply; supervised, so the model learns to stop
    image_only_user: bool = False  # plain: the user turn is just its image token(s)
    single_exchange: bool = False  # plain: exactly one user turn and one reply

    def user_prompt(self, text: str, image_token: str) -> str:
        """The prompt text for one user turn, up to and including the assistant label."""
        if self.image_only_user:
            return image_token * text.count(image_token)
        return f"{self.user_label}: {text}{self.after_user}{self.assistant_label}:"


def get_template(name: str) -> ConversationTemplate:
    """The template called ``name`` (``plain``, ``plain_eos``, ``vicuna_v1``; ``v1`` is an alias)."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise FlagError(f"unknown conversation template {name!r}; known: {sorted(TEMPLATES)}") from None


def canonical_role(raw: str) -> Optional[str]:
    """``USER``/``ASSISTANT`` for a record's ``from`` value, or None if it is not a known role."""
    return ROLE_ALIASES.get(str(raw).strip().lower())


def render_segments(
    template: ConversationTemplate,
    turns: Sequence[Turn],
    *,
    add_generation_prompt: bool = False,
    image_token: str = "<image>",
) -> list[Segment]:
    """Turns -> segments. Turns must alternate user/assistant, starting with the user.

    A training conversation ends with an assistant turn; a generation prompt
    (``add_generation_prompt=True``) ends with a user turn, and the last segment then
    ends with the assistant label (``...ASSISTANT:``).
    """
    _check_turn_order(template, turns, add_generation_prompt)
    segments: list[Segment] = []
    for i, (role, text) in enumerate(turns):
        if role == USER:
            head = template.system + template.after_system if i == 0 and template.system else ""
            segments.append(Segment(head + template.user_prompt(text, image_token), is_reply=False))
        else:
            segments.append(Segment(template.reply_prefix + text + template.reply_end, is_reply=True))
    return segments


def render(template: ConversationTemplate, turns: Sequence[Turn], image_token: str = "<image>") -> str:
    """The full training text of a conversation (ending with the last reply's end token)."""
    return "".join(s.text for s in render_segments(template, turns, image_token=image_token))


def generation_prompt(template: ConversationTemplate, turns: Sequence[Turn], image_token: str = "<image>") -> str:
    """The inference prompt for ``turns`` (ending with a user turn), e.g. ``... USER: q ASSISTANT:``."""
    segments = render_segments(template, turns, add_generation_prompt=True, image_token=image_token)
    return "".join(s.text for s in segments)


def _check_turn_order(template: ConversationTemplate, turns: Sequence[Turn], add_generation_prompt: bool) -> None:
    if not turns:
        raise ValueError("a conversation needs at least one turn")
    for i, (role, _) in enumerate(turns):
        expected = USER if i % 2 == 0 else ASSISTANT
        if role != expected:
            raise ValueError(f"turn {i} is {role!r}, expected {expected!r} (turns alternate, user first)")
    last = turns[-1][0]
    if add_generation_prompt and last != USER:
        raise ValueError("a generation prompt must end with a user turn")
    if not add_generation_prompt and last != ASSISTANT:
        raise ValueError("a training conversation must end with an assistant reply")
    if template.single_exchange and len(turns) > 2:
        raise ValueError(f"template {template.name!r} takes one user turn and one reply, got {len(turns)} turns")


_VICUNA_V1 = ConversationTemplate(
    name="vicuna_v1",
    system=VICUNA_SYSTEM,
    user_label="USER",
    assistant_label="ASSISTANT",
    after_system=" ",
    after_user=" ",
    reply_prefix=" ",
    reply_end="</s>",
)

# Stage 1 (projector pretraining): image tokens, then the caption, then LLaVA's separator
# "\n" (LLaVA-1.5's conv_llava_plain: no EOS, so "\n" is the last supervised token).
_PLAIN = ConversationTemplate(
    name="plain",
    system="",
    user_label="",
    assistant_label="",
    after_system="",
    after_user="",
    reply_prefix="",
    reply_end="\n",
    image_only_user=True,
    single_exchange=True,
)

# The embedded default's stage 1: the caption ends with "</s>" instead, so the tiny stage-1
# model learns to stop by itself (a choice of this project, not LLaVA's).
_PLAIN_EOS = dataclasses.replace(_PLAIN, name="plain_eos", reply_end="</s>")

TEMPLATES = MappingProxyType({"vicuna_v1": _VICUNA_V1, "v1": _VICUNA_V1, "plain": _PLAIN, "plain_eos": _PLAIN_EOS})
