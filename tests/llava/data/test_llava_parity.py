"""Token-level parity with LLaVA-1.5's preprocessing, on a Llama-style sentencepiece tokenizer.

The reference below is written from LLaVA-1.5's documented rules (llava/train/train.py,
llava/mm_utils.py), not copied:
- ``tokenizer_image_token``: split the prompt at ``<image>``, tokenise each chunk with the
  tokenizer (bos included), keep one bos at the front and put IMAGE_TOKEN_INDEX (-200)
  between the chunks.
- ``preprocess_multimodal``: a turn holding ``<image>`` becomes ``("<image>\\n" +
  rest.strip()).strip()``.
- ``preprocess_plain``: ``"<image>" + caption + sep`` with conv_llava_plain's sep ``"\\n"``;
  the tokens of ``"<image>"`` (bos + image) are masked, the rest is supervised.
- ``preprocess_v1``: vicuna_v1 prompt ``system USER: q ASSISTANT: a</s>``; per round the
  instruction (tokens of ``...ASSISTANT: `` minus 2) is masked.
Ours runs with one image token per image and its id mapped to -200 for the comparison.
"""
import pytest

from llava.data.conversation import VICUNA_SYSTEM, get_template
from llava.data.preprocess import IGNORE_INDEX, image_token_id, tokenize_conversation

from ..conftest import gpt, human

LLAVA_IMAGE = -200

CORPUS = [
    VICUNA_SYSTEM,
    "USER: What colour is the shape? ASSISTANT: The shape is red.",
    "A red circle on the left and a blue square on the right of the picture.",
    "Describe the image briefly. How many circles are there? There are two circles.",
] * 30


@pytest.fixture(scope="module")
def llama_tokenizer(tmp_path_factory):
    """A Llama-style sentencepiece BPE (dummy prefix, byte fallback, bos, legacy), loaded as Vicuna's is."""
    spm = pytest.importorskip("sentencepiece")
    from transformers import AutoTokenizer, LlamaTokenizer

    folder = tmp_path_factory.mktemp("sp")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=480, model_type="bpe",
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, minloglevel=2,
    )
    tokenizer = LlamaTokenizer.from_pretrained(str(folder), add_bos_token=True, legacy=True)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tokenizer.pad_token = tokenizer.unk_token
    tokenizer.save_pretrained(str(folder / "hf"))
    return AutoTokenizer.from_pretrained(str(folder / "hf"))


def llava_tokenizer_image_token(prompt, tokenizer):
    ids = []
    for i, chunk in enumerate(prompt.split("<image>")):
        chunk_ids = tokenizer(chunk).input_ids
        assert chunk_ids[0] == tokenizer.bos_token_id
        if i == 0:
            ids.append(tokenizer.bos_token_id)
        else:
            ids.append(LLAVA_IMAGE)
        ids.extend(chunk_ids[1:])
    return ids


def llava_place(value):
    if "<image>" in value:
        value = ("<image>\n" + value.replace("<image>", "").strip()).strip()
    return value


def ours(conversation, tokenizer, template):
    sample = tokenize_conversation(conversation, get_template(template), tokenizer, num_image_tokens=1,
                                   sample_id="r", expected_images=1)
    image_id = image_token_id(tokenizer)
    ids = [LLAVA_IMAGE if t == image_id else t for t in sample.input_ids.tolist()]
    return ids, sample.labels.tolist()


@pytest.mark.parametrize("question", ["<image>\nDescribe the image briefly.", "Describe the image briefly.\n<image>",
                                      "<image>"])
def test_plain_matches_llava_token_for_token(llama_tokenizer, question):
    caption = "A red circle on the left."
    prompt = "<image>" + caption + "\n"  # LLaVA drops the question and appends sep "\n"
    expected = llava_tokenizer_image_token(prompt, llama_tokenizer)
    masked = len(llava_tokenizer_image_token("<image>", llama_tokenizer))
    expected_labels = [IGNORE_INDEX] * masked + expected[masked:]
    ids, labels = ours([human(question), gpt(caption)], llama_tokenizer, "plain")
    assert ids == expected and labels == expected_labels
    newline = llama_tokenizer.convert_tokens_to_ids("<0x0A>")
    assert ids[-1] == labels[-1] == newline  # the last supervised token is "\n", not </s>
    assert llama_tokenizer.eos_token_id not in ids


def vicuna_reference(conversation, tokenizer):
    """LLaVA's vicuna_v1 prompt and preprocess_v1 labels for a legacy Llama tokenizer."""
    sep, sep2 = " ", "</s>"
    prompt = VICUNA_SYSTEM + sep
    for turn in conversation:
        role = "USER" if turn["from"] == "human" else "ASSISTANT"
        value = llava_place(turn["value"])
        prompt += f"{role}: {value}" + (sep if role == "USER" else sep2)
    ids = llava_tokenizer_image_token(prompt, tokenizer)
    labels = list(ids)
    position = 1
    labels[:1] = [IGNORE_INDEX]
    for rnd in prompt.split(sep2):
        if not rnd:
            break
        instruction, _ = rnd.split(sep + "ASSISTANT: ")
        instruction += sep + "ASSISTANT: "
        round_len = len(llava_tokenizer_image_token(rnd, tokenizer))
        instruction_len = len(llava_tokenizer_image_token(instruction, tokenizer)) - 2
        labels[position:position + instruction_len] = [IGNORE_INDEX] * instruction_len
        position += round_len
    labels[position:] = [IGNORE_INDEX] * (len(labels) - position)
    return prompt, ids, labels


@pytest.mark.parametrize("first", ["<image>", "<image>\nWhat colour is the shape?", "What colour is the shape? <image>"])
def test_vicuna_image_turn_matches_llava(llama_tokenizer, first):
    conversation = [human(first), gpt("The shape is red.")]
    prompt, expected_ids, expected_labels = vicuna_reference(conversation, llama_tokenizer)
    if first == "<image>":
        assert prompt.endswith("USER: <image> ASSISTANT: The shape is red.</s>")  # a bare tag stays bare
    ids, labels = ours(conversation, llama_tokenizer, "vicuna_v1")
    assert ids == expected_ids
    assert labels == expected_labels


def test_vicuna_multi_round_text_matches_llava(llama_tokenizer):
    """Later rounds: the rendered text is LLaVA's byte for byte. (Token ids after ``</s>`` depend
    on the tokenizer's legacy mode, which this synthetic tokenizer does not reproduce.)"""
    from llava.data.conversation import render
    from llava.data.preprocess import normalize_conversation

    conversation = [human("<image>"), gpt("The shape is red."), human("How many circles are there?"),
                    gpt("There are two circles.")]
    prompt, _, _ = vicuna_reference(conversation, llama_tokenizer)
    turns, _ = normalize_conversation(conversation, get_template("vicuna_v1"), image_token="<image>",
                                      sample_id="r", expected_images=1)
    assert render(get_template("vicuna_v1"), turns) == prompt


def test_bare_image_turn_renders_like_llava(llama_tokenizer):
    from llava.data.preprocess import place_image_tokens

    turns, count = place_image_tokens([("user", "<image>"), ("assistant", "Red.")], 1, "<image>", "r")
    assert turns[0] == ("user", "<image>") and count == 1


def test_preflight_counts_tokens_as_training_does(llama_tokenizer):
    """The pre-flight's batched count equals encode() piece by piece on a sentencepiece tokenizer too."""
    from llava.data.preflight import token_counts

    texts = ["A red circle.\n", " ASSISTANT:", "\nWhat colour is the shape?", " The shape is red.</s>", "USER: ",
             "  two  spaces", "\n"]
    assert token_counts(llama_tokenizer, texts) == [
        len(llama_tokenizer.encode(t, add_special_tokens=False)) for t in texts]
