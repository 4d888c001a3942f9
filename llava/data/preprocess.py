"""Tokenize-and-mask: one conversation record -> (input_ids, labels).

The sequence is built segment by segment (see ``conversation.render_segments``): bos,
then each prompt piece and each reply tokenised on its own and concatenated. Labels
are ``IGNORE_INDEX`` everywhere except reply tokens (their end token included, so the
model learns to stop). Every ``<image>`` becomes ``num_image_tokens`` copies of the
image token id, which is what transformers' Llava matches image features against.

Inference uses ``tokenize_prompt``, which encodes the same segments the same way, so a
generation prompt is token for token the prefix of the training sequence.

Image placement (as LLaVA-1.5 does): a record's single ``<image>`` is moved to the front
of its user turn as ``"<image>\\n" + text``. A record that has an image but no
``<image>`` in its text gets one prepended to the first user turn (LLaVA would ignore the
image); several tags keep the first. The quirks fixed this way are listed in the sample's
``fixes`` and counted by the pre-flight (``llava.data.preflight``); what cannot be fixed
safely is a ``BadSampleError`` whose ``reason`` is a key of ``llava.data.quirks.QUIRKS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from llava.data.conversation import ASSISTANT, USER, ConversationTemplate, Turn, canonical_role, render_segments
from llava.data.errors import BadSampleError

IGNORE_INDEX = -100


@dataclass
class TokenizedSample:
    input_ids: torch.Tensor  # LongTensor [L]
    labels: torch.Tensor  # LongTensor [L]; IGNORE_INDEX outside replies
    num_images: int
    fixes: tuple[str, ...] = ()  # quirk keys fixed on the way (llava.data.quirks), in order


def image_token_id(tokenizer, image_token: str = "<image>") -> int:
    """The single id of ``image_token``; the tokenizer must know it as one token."""
    ids = tokenizer.encode(image_token, add_special_tokens=False)
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        raise ValueError(
            f"tokenizer encodes {image_token!r} as {ids}; add it as a special token first "
            "(tokenizer.add_special_tokens) so it is exactly one id"
        )
    return ids[0]


def parse_turns(conversations: Any, sample_id: str, fixes: Optional[list[str]] = None) -> list[Turn]:
    """LLaVA's ``[{"from": "human", "value": ...}, ...]`` -> canonical (role, text) turns, validated.

    With ``fixes`` (a list to append quirk keys to), the quirks LLaVA-1.5 itself smooths over are
    fixed as it does: a leading ``gpt`` turn is dropped (``leading_gpt_turn``), and so is a
    trailing ``human`` turn (``trailing_human_turn``: LLaVA masks it, it is never supervised).
    Without ``fixes`` both are errors.
    """
    if conversations is None:
        raise BadSampleError(sample_id, "no_conversations", "record has no 'conversations'")
    if not isinstance(conversations, list):
        raise BadSampleError(
            sample_id, "malformed_record", f"'conversations' is a {type(conversations).__name__}, expected a list"
        )
    if not conversations:
        raise BadSampleError(sample_id, "empty_conversations", "'conversations' is empty")
    turns: list[Turn] = []
    for i, turn in enumerate(conversations):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str) or "from" not in turn:
            raise BadSampleError(sample_id, "malformed_record", f"turn {i} needs a 'from' and a string 'value'")
        role = canonical_role(turn["from"])
        if role is None:
            raise BadSampleError(
                sample_id, "bad_role", f"turn {i} has from={turn['from']!r}; expected human/gpt (or user/assistant)"
            )
        turns.append((role, turn["value"]))
    first = 0  # index in the record of turns[0], for messages
    if fixes is not None and turns[0][0] == ASSISTANT and len(turns) > 1:
        turns, first = turns[1:], 1
        fixes.append("leading_gpt_turn")
    if fixes is not None and turns[-1][0] == USER and len(turns) > 1:
        turns = turns[:-1]
        fixes.append("trailing_human_turn")
    for i, (role, _) in enumerate(turns):
        expected = USER if i % 2 == 0 else ASSISTANT
        if role != expected:
            raise BadSampleError(
                sample_id, "bad_turn_order",
                f"turn {i + first} is from {conversations[i + first]['from']!r}; turns must alternate, human first"
            )
    if turns[-1][0] != ASSISTANT:
        raise BadSampleError(sample_id, "no_reply", f"conversation ends on a human turn (turn {len(conversations) - 1})")
    if fixes is not None and any(not text.strip() for role, text in turns if role == ASSISTANT):
        fixes.append("empty_reply")  # kept as written, as LLaVA does; counted so it can be found
    return turns


def place_image_tokens(
    turns: list[Turn], expected_images: Optional[int], image_token: str, sample_id: str,
    fixes: Optional[list[str]] = None,
) -> tuple[list[Turn], int]:
    """Normalise where ``<image>`` stands, as LLaVA-1.5's ``preprocess_multimodal`` does; returns
    (turns, number of images in the text).

    The turn holding the tag becomes ``"<image>\n" + rest.strip()``, stripped once more, so a turn
    that is only ``<image>`` stays ``<image>`` (prompt ``USER: <image> ASSISTANT:``).
    ``expected_images`` is the record's image count (0 or 1), or None to trust the text.
    With ``fixes``: an image record whose text has no tag gets one before its first user turn
    (``image_without_tag``; LLaVA would silently ignore the image), and several tags keep only
    the first (``several_image_tags``). Without ``fixes`` several tags are an error.
    """
    for i, (role, text) in enumerate(turns):
        if role == ASSISTANT and image_token in text:
            raise BadSampleError(sample_id, "image_in_reply", f"{image_token} appears in a reply (turn {i})")
    in_text = sum(text.count(image_token) for _, text in turns)
    if expected_images is None:
        return turns, in_text
    if expected_images > 1:
        raise BadSampleError(sample_id, "several_images", f"{expected_images} images; LLaVA-1.5 takes at most one")
    if in_text and not expected_images:
        raise BadSampleError(
            sample_id, "tag_without_image", f"text has {in_text} {image_token} tag(s) but the record has no image"
        )
    if in_text == 0 and expected_images == 1:
        if fixes is not None:  # LLaVA's data relies on this convention; the pre-flight counts it
            fixes.append("image_without_tag")
        role, text = turns[0]
        return [(role, _front(image_token, text))] + list(turns[1:]), 1
    if in_text > 1:
        if fixes is None:
            raise BadSampleError(
                sample_id, "several_image_tags", f"text has {in_text} {image_token} tags but the record has 1 image"
            )
        fixes.append("several_image_tags")
    placed, seen = [], False
    for role, text in turns:
        if image_token in text:
            rest = text.replace(image_token, "").strip()
            text = rest if seen else _front(image_token, rest)
            seen = True
        placed.append((role, text))
    return placed, expected_images


def _front(image_token: str, text: str) -> str:
    """LLaVA's placement: the tag, a newline, the text; stripped, so a bare tag stays bare."""
    return f"{image_token}\n{text.strip()}".strip()


def encode_text(text: str, tokenizer, image_id: int, num_image_tokens: int, image_token: str) -> list[int]:
    """Tokens of one segment; each ``image_token`` becomes ``num_image_tokens`` image ids."""
    ids: list[int] = []
    for j, piece in enumerate(text.split(image_token)):
        if j > 0:
            ids.extend([image_id] * num_image_tokens)
        if piece:
            ids.extend(tokenizer.encode(piece, add_special_tokens=False))
    return ids


def normalize_conversation(
    conversations: Any,
    template: ConversationTemplate,
    *,
    image_token: str,
    sample_id: str,
    expected_images: Optional[int],
    fixes: Optional[list[str]] = None,
) -> tuple[list[Turn], int]:
    """Record turns -> (turns ready to render, image count); the quirks fixed are appended to ``fixes``."""
    turns = parse_turns(conversations, sample_id, fixes)
    if template.single_exchange and len(turns) != 2:
        raise BadSampleError(
            sample_id, "bad_turn_order", f"template {template.name!r} takes one exchange, got {len(turns)} turns"
        )
    return place_image_tokens(turns, expected_images, image_token, sample_id, fixes)


def tokenize_conversation(
    conversations: Any,
    template: ConversationTemplate,
    tokenizer,
    *,
    num_image_tokens: int,
    image_token: str = "<image>",
    sample_id: str,
    expected_images: Optional[int] = None,
    model_max_length: Optional[int] = None,
    truncate: bool = False,
    fix_quirks: bool = True,
) -> TokenizedSample:
    """Tokenise one record's ``conversations`` and mask everything but the replies.

    Raises ``BadSampleError`` (naming ``sample_id``) for a malformed conversation, a wrong
    number of image tokens, a sequence over ``model_max_length`` (``over_long``; unless
    ``truncate``, which cuts the tail but never inside the image tokens and never every reply:
    ``over_long_unfixable``), or a tokenisation that does not give back the replies.
    ``fix_quirks`` fixes what LLaVA-1.5 fixes (see ``parse_turns``, ``place_image_tokens``);
    the sample's ``fixes`` lists them (and ``over_long`` when truncated).
    """
    fixes: Optional[list[str]] = [] if fix_quirks else None
    turns, num_images = normalize_conversation(
        conversations, template, image_token=image_token, sample_id=sample_id,
        expected_images=expected_images, fixes=fixes)
    image_id = image_token_id(tokenizer, image_token)

    ids: list[int] = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    labels: list[int] = [IGNORE_INDEX] * len(ids)
    replies: list[tuple[str, int]] = []  # (reply text, its token count)
    for segment in render_segments(template, turns, image_token=image_token):
        piece = encode_text(segment.text, tokenizer, image_id, num_image_tokens, image_token)
        ids.extend(piece)
        labels.extend(piece if segment.is_reply else [IGNORE_INDEX] * len(piece))
        if segment.is_reply:
            replies.append((segment.text, len(piece)))

    input_ids = torch.tensor(ids, dtype=torch.long)
    label_ids = torch.tensor(labels, dtype=torch.long)
    verify_alignment(input_ids, label_ids, replies, tokenizer, sample_id)
    if model_max_length is not None and len(ids) > model_max_length:
        input_ids, label_ids = _fit_length(input_ids, label_ids, image_id, model_max_length, truncate, sample_id)
        if fixes is not None:
            fixes.append("over_long")
    return TokenizedSample(input_ids=input_ids, labels=label_ids, num_images=num_images, fixes=tuple(fixes or ()))


def tokenize_prompt(
    turns: Sequence[Turn],
    template: ConversationTemplate,
    tokenizer,
    *,
    num_image_tokens: int,
    image_token: str = "<image>",
) -> torch.Tensor:
    """Inference: ids [L] of a generation prompt (turns end with the user; ``...ASSISTANT:``)."""
    image_id = image_token_id(tokenizer, image_token)
    ids: list[int] = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    segments = render_segments(template, turns, add_generation_prompt=True, image_token=image_token)
    for segment in segments:
        ids.extend(encode_text(segment.text, tokenizer, image_id, num_image_tokens, image_token))
    return torch.tensor(ids, dtype=torch.long)


def verify_alignment(
    input_ids: torch.Tensor, labels: torch.Tensor, replies: list[tuple[str, int]], tokenizer, sample_id: str
) -> None:
    """Check, from the final tensors alone, that the supervised spans are exactly the replies.

    Catches a tokenizer that adds or drops tokens between segments, a reply that encodes
    to nothing, a reply the tokenizer cannot represent (it decodes to ``<unk>``), or
    labels that drifted from input_ids.
    """
    supervised = labels != IGNORE_INDEX
    expected_count = sum(n for _, n in replies)
    if int(supervised.sum()) != expected_count:
        raise BadSampleError(
            sample_id,
            "tokenization_mismatch",
            f"{int(supervised.sum())} supervised tokens, but the replies tokenise to {expected_count}",
        )
    spans = _true_runs(supervised)
    if len(spans) != len(replies):
        raise BadSampleError(
            sample_id, "tokenization_mismatch", f"{len(spans)} supervised spans for {len(replies)} replies"
        )
    for (start, end), (text, _) in zip(spans, replies):
        decoded = tokenizer.decode(input_ids[start:end].tolist(), skip_special_tokens=False)
        if "".join(decoded.split()) != "".join(text.split()):  # ignore whitespace: decoders differ there
            raise BadSampleError(
                sample_id, "tokenization_mismatch", f"reply decodes to {decoded[:80]!r}, expected {text[:80]!r}"
            )


def _true_runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D bool tensor."""
    padded = torch.cat([torch.zeros(1, dtype=torch.int8), mask.to(torch.int8), torch.zeros(1, dtype=torch.int8)])
    edges = torch.diff(padded)
    starts = torch.nonzero(edges == 1).flatten().tolist()
    ends = torch.nonzero(edges == -1).flatten().tolist()
    return list(zip(starts, ends))


def _fit_length(
    input_ids: torch.Tensor, labels: torch.Tensor, image_id: int, max_length: int, truncate: bool, sample_id: str
) -> tuple[torch.Tensor, torch.Tensor]:
    length = input_ids.numel()
    if not truncate:
        raise BadSampleError(sample_id, "over_long", f"{length} tokens > model_max_length {max_length}")
    image_positions = torch.nonzero(input_ids == image_id).flatten()
    if image_positions.numel() and int(image_positions[-1]) >= max_length:
        raise BadSampleError(
            sample_id,
            "over_long_unfixable",
            f"{length} tokens > model_max_length {max_length}, and truncating would cut the image tokens "
            f"(they end at position {int(image_positions[-1]) + 1})",
        )
    input_ids, labels = input_ids[:max_length], labels[:max_length]
    if not bool((labels != IGNORE_INDEX).any()):
        raise BadSampleError(
            sample_id,
            "over_long_unfixable",
            f"{length} tokens > model_max_length {max_length}, and no reply is left after truncation",
        )
    return input_ids, labels
