"""The tiny tokenizer behaves like Llama's: bos prepended once, no eos appended, <image> one id, right padding."""
from transformers import AutoTokenizer

from llava.model.tiny import train_tokenizer


def test_tokenizer_round_trip_bos_and_unsplittable_image_token(tmp_path):
    tokenizer = train_tokenizer(["USER: <image>\nWhat colour? ASSISTANT: red", "a blue circle"] * 30, vocab_size=300)
    assert [tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id] == [0, 1, 2, 3]
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert image_id == 4
    text = "USER: x<image><image>y\nWhat colour? ASSISTANT: red</s>"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1  # bos added, once
    assert ids[-1] == tokenizer.eos_token_id  # only because the text spells </s>
    assert ids.count(image_id) == 2
    assert tokenizer(text, add_special_tokens=False).input_ids == ids[1:]
    assert tokenizer.decode(ids[1:]) == text
    assert tokenizer("a blue circle").input_ids[-1] != tokenizer.eos_token_id  # no eos appended

    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text).input_ids == ids
    padded = reloaded(["a", "a blue circle"], padding=True).input_ids
    assert padded[0][-1] == reloaded.pad_token_id and padded[0][0] == reloaded.bos_token_id  # right padding
