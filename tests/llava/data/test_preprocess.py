"""tokenize_conversation: pinned ids and masks, image expansion, and the bad-input catalogue."""
import dataclasses

import pytest
import torch

from llava.data.conversation import USER, get_template
from llava.data.errors import BadSampleError
from llava.data.preprocess import (
    IGNORE_INDEX,
    image_token_id,
    tokenize_conversation,
    tokenize_prompt,
    verify_alignment,
)

from ..conftest import gpt, human

X = IGNORE_INDEX
VICUNA = get_template("vicuna_v1")
PLAIN = get_template("plain")
SHORT_VICUNA = dataclasses.replace(VICUNA, system="Be brief.")  # same layout, short enough to pin by hand
TWO_EXCHANGES = [human("<image>\nWhat colour?"), gpt("Red."), human("And shape?"), gpt("A circle.")]


def tokenize(conversations, tokenizer, template=VICUNA, **kwargs):
    kwargs.setdefault("num_image_tokens", 4)
    kwargs.setdefault("sample_id", "s1")
    return tokenize_conversation(conversations, template, tokenizer, **kwargs)


def test_pinned_ids_and_labels_two_exchanges(word_tokenizer):
    sample = tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, expected_images=1)
    # <s> Be brief . USER : <image>x2 What colour ? ASSISTANT : | Red . </s>
    # | USER : And shape ? ASSISTANT : | A circle . </s>
    assert sample.input_ids.tolist() == [1, 5, 6, 7, 8, 9, 4, 4, 10, 11, 12, 13, 9, 14, 7, 2,
                                         8, 9, 15, 16, 12, 13, 9, 17, 18, 7, 2]
    assert sample.labels.tolist() == [X] * 13 + [14, 7, 2] + [X] * 7 + [17, 18, 7, 2]
    assert sample.num_images == 1
    assert sample.input_ids.dtype == sample.labels.dtype == torch.long


def test_pinned_plain_template_drops_the_question(word_tokenizer):
    conversation = [human("What colour?\n<image>"), gpt("A circle.")]
    sample = tokenize(conversation, word_tokenizer, PLAIN, num_image_tokens=3)
    # the word-level tokenizer drops whitespace, so LLaVA's closing "\n" shows no token here (see test_llava_parity)
    assert sample.input_ids.tolist() == [1, 4, 4, 4, 17, 18, 7]
    assert sample.labels.tolist() == [X, X, X, X, 17, 18, 7]
    eos = tokenize(conversation, word_tokenizer, get_template("plain_eos"), num_image_tokens=3)
    assert eos.input_ids.tolist() == [1, 4, 4, 4, 17, 18, 7, 2] and eos.labels.tolist()[-1] == 2


def test_bpe_supervised_positions_are_the_reply_and_its_eos(tokenizer):
    sample = tokenize([human("<image>\nWhat colour is the shape?"), gpt("The shape is red.")], tokenizer)
    reply = tokenizer.encode(" The shape is red.</s>", add_special_tokens=False)
    length = sample.input_ids.numel()
    supervised = torch.nonzero(sample.labels != X).flatten().tolist()
    assert supervised == list(range(length - len(reply), length))
    assert sample.labels[-len(reply):].tolist() == reply and reply[-1] == tokenizer.eos_token_id
    image_id = image_token_id(tokenizer)
    head = tokenizer.encode(VICUNA.system + " USER: ", add_special_tokens=False)
    image_positions = torch.nonzero(sample.input_ids == image_id).flatten().tolist()
    assert image_positions == list(range(1 + len(head), 1 + len(head) + 4))  # after <s> and the system prompt
    assert sample.input_ids[0].item() == tokenizer.bos_token_id


def test_generation_prompt_is_the_training_prefix(tokenizer):
    """Training and inference tokenise identically: the prompt is the ids before the first reply."""
    conversation = [human("<image>\nWhat colour is the shape?"), gpt("The shape is red.")]
    sample = tokenize(conversation, tokenizer)
    prompt = tokenize_prompt([(USER, "<image>\nWhat colour is the shape?")], VICUNA, tokenizer, num_image_tokens=4)
    first_reply = int(torch.nonzero(sample.labels != X)[0])
    assert torch.equal(prompt, sample.input_ids[:first_reply])
    assert tokenizer.decode(prompt[-5:]).endswith("ASSISTANT:")


def test_image_is_moved_to_the_front_of_its_turn(word_tokenizer):
    front = tokenize([human("<image>\nWhat colour?"), gpt("Red.")], word_tokenizer, SHORT_VICUNA, expected_images=1)
    back = tokenize([human("What colour?\n<image>"), gpt("Red.")], word_tokenizer, SHORT_VICUNA, expected_images=1)
    missing = tokenize([human("What colour?"), gpt("Red.")], word_tokenizer, SHORT_VICUNA, expected_images=1)
    assert torch.equal(front.input_ids, back.input_ids) and torch.equal(front.input_ids, missing.input_ids)
    assert missing.num_images == 1


def test_user_assistant_roles_are_accepted(word_tokenizer):
    openai_style = [{"from": "user", "value": "What colour?"}, {"from": "assistant", "value": "Red."}]
    llava_style = [human("What colour?"), gpt("Red.")]
    a = tokenize(openai_style, word_tokenizer, SHORT_VICUNA)
    b = tokenize(llava_style, word_tokenizer, SHORT_VICUNA)
    assert torch.equal(a.input_ids, b.input_ids) and a.num_images == 0


@pytest.mark.parametrize(
    "conversations, expected_images, reason, detail",
    [
        (None, None, "no_conversations", "no 'conversations'"),
        ([], None, "empty_conversations", "is empty"),
        ({"from": "human"}, None, "malformed_record", "expected a list"),
        ([human("hi"), {"from": "gpt"}], None, "malformed_record", "turn 1"),
        ([human("hi"), {"from": "robot", "value": "x"}], None, "bad_role", "from='robot'"),
        ([{"from": "system", "value": "x"}, gpt("y")], None, "bad_role", "from='system'"),
        ([gpt("hi"), gpt("x"), human("y")], None, "bad_turn_order", "turn 1 is from 'gpt'"),
        ([human("a"), human("b"), gpt("c")], None, "bad_turn_order", "turn 1"),
        ([human("a")], None, "no_reply", "ends on a human turn"),
        ([gpt("a")], None, "bad_turn_order", "turn 0"),
        ([human("<image> a"), gpt("b")], 0, "tag_without_image", "1 <image> tag(s) but the record has no image"),
        ([human("a"), gpt("b <image>")], 1, "image_in_reply", "appears in a reply (turn 1)"),
        ([human("a"), gpt("b")], 2, "several_images", "at most one"),
    ],
)
def test_bad_conversations_name_the_sample(tokenizer, conversations, expected_images, reason, detail):
    with pytest.raises(BadSampleError) as info:
        tokenize(conversations, tokenizer, sample_id="rec-42", expected_images=expected_images)
    assert info.value.reason == reason and info.value.sample_id == "rec-42"
    assert "'rec-42'" in str(info.value) and detail in str(info.value)


def test_plain_rejects_multi_turn(word_tokenizer):
    with pytest.raises(BadSampleError, match="takes one exchange, got 4 turns") as info:
        tokenize(TWO_EXCHANGES, word_tokenizer, PLAIN)
    assert info.value.reason == "bad_turn_order"


def test_too_long_is_an_error_naming_the_id(word_tokenizer):
    with pytest.raises(BadSampleError, match=r"'long-1'.*27 tokens > model_max_length 20") as info:
        tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, sample_id="long-1",
                 model_max_length=20)
    assert info.value.reason == "over_long"
    ok = tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, model_max_length=27)
    assert ok.input_ids.numel() == 27


def test_truncate_cuts_the_tail(word_tokenizer):
    sample = tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, model_max_length=20,
                      truncate=True)
    assert sample.input_ids.tolist() == [1, 5, 6, 7, 8, 9, 4, 4, 10, 11, 12, 13, 9, 14, 7, 2, 8, 9, 15, 16]
    assert sample.labels.tolist() == [X] * 13 + [14, 7, 2] + [X] * 4
    assert sample.fixes == ("over_long",)  # counted, so the report can name it


def test_truncate_never_cuts_image_tokens_or_every_reply(word_tokenizer):
    with pytest.raises(BadSampleError, match="would cut the image tokens") as info:
        tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, model_max_length=7, truncate=True)
    assert info.value.reason == "over_long_unfixable"
    with pytest.raises(BadSampleError, match="no reply is left"):
        tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, model_max_length=12, truncate=True)


def test_verify_alignment_catches_shifted_labels(word_tokenizer):
    sample = tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2)
    replies = [(" Red.</s>", 3), (" A circle.</s>", 4)]
    verify_alignment(sample.input_ids, sample.labels, replies, word_tokenizer, "s1")  # the real thing passes
    shifted = torch.cat([sample.labels[1:], torch.tensor([X])])  # off by one, as a bos mix-up would cause
    with pytest.raises(BadSampleError, match="'s1'.*decodes to") as info:
        verify_alignment(sample.input_ids, shifted, replies, word_tokenizer, "s1")
    assert info.value.reason == "tokenization_mismatch"
    with pytest.raises(BadSampleError, match="7 supervised tokens, but the replies tokenise to 8"):
        verify_alignment(sample.input_ids, sample.labels, [(" Red.</s>", 4), (" A circle.</s>", 4)],
                         word_tokenizer, "s1")


def test_reply_the_tokenizer_cannot_represent_is_caught(word_tokenizer):
    with pytest.raises(BadSampleError, match="decodes to") as info:
        tokenize([human("What colour?"), gpt("Green.")], word_tokenizer, SHORT_VICUNA)  # "Green" -> <unk>
    assert info.value.reason == "tokenization_mismatch"


def test_image_token_must_be_one_known_id(word_tokenizer):
    with pytest.raises(ValueError, match="add it as a special token"):
        image_token_id(word_tokenizer, "<img>")


def _ids(sample):
    return sample.input_ids.tolist(), sample.labels.tolist()


def test_leading_gpt_turn_is_dropped_as_llava_does(word_tokenizer):
    fixed = tokenize([gpt("Red."), human("What colour?"), gpt("Red.")], word_tokenizer, SHORT_VICUNA)
    clean = tokenize([human("What colour?"), gpt("Red.")], word_tokenizer, SHORT_VICUNA)
    assert _ids(fixed) == _ids(clean) and fixed.fixes == ("leading_gpt_turn",) and clean.fixes == ()
    with pytest.raises(BadSampleError, match="turn 0") as info:  # strict mode (fix_quirks=False) names it
        tokenize([gpt("Red."), human("What colour?"), gpt("Red.")], word_tokenizer, SHORT_VICUNA, fix_quirks=False)
    assert info.value.reason == "bad_turn_order"


def test_trailing_human_turn_is_dropped(word_tokenizer):
    fixed = tokenize([human("What colour?"), gpt("Red."), human("And shape?")], word_tokenizer, SHORT_VICUNA)
    clean = tokenize([human("What colour?"), gpt("Red.")], word_tokenizer, SHORT_VICUNA)
    assert _ids(fixed) == _ids(clean) and fixed.fixes == ("trailing_human_turn",)


def test_several_image_tags_keep_the_first(word_tokenizer):
    turns = [human("<image>\nWhat colour? <image>"), gpt("Red."), human("<image> And shape?"), gpt("A circle.")]
    fixed = tokenize(turns, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, expected_images=1)
    clean = tokenize(TWO_EXCHANGES, word_tokenizer, SHORT_VICUNA, num_image_tokens=2, expected_images=1)
    assert _ids(fixed) == _ids(clean) and fixed.fixes == ("several_image_tags",)
    assert int((fixed.input_ids == 4).sum()) == 2  # one image: its 2 tokens


def test_image_record_without_tag_and_empty_reply_are_counted(word_tokenizer):
    sample = tokenize([human("What colour?"), gpt("")], word_tokenizer, SHORT_VICUNA, expected_images=1)
    assert sample.fixes == ("empty_reply", "image_without_tag") and sample.num_images == 1
    assert sample.labels.tolist()[-1] == 2  # the empty reply still teaches </s>, as in LLaVA
