"""Fixtures for the data-pipeline tests: a tiny offline tokenizer, a 32-px CLIP image
processor, and a helper that writes LLaVA-format data files with real PNGs."""
import json
from pathlib import Path

import pytest
from PIL import Image

from llava.data.conversation import VICUNA_SYSTEM

IMAGE_PX = 32  # processor output side; with 16-px patches the tiny tower gives 4 image tokens
NUM_IMAGE_TOKENS = 4

_CORPUS = [
    VICUNA_SYSTEM,
    "USER: <image>\nWhat colour is the shape? ASSISTANT: The shape is red.</s>",
    "USER: How many circles are there? ASSISTANT: There are two circles.</s>",
    "A red circle on the left and a blue square on the right.",
    "Describe the image briefly. Which one is bigger? Yes. No. Hello there.",
]


@pytest.fixture(scope="session")
def tokenizer():
    from llava.model.tiny import train_tokenizer

    return train_tokenizer(_CORPUS * 20, vocab_size=400)


@pytest.fixture(scope="session")
def image_processor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        size={"shortest_edge": IMAGE_PX},
        crop_size={"height": IMAGE_PX, "width": IMAGE_PX},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )


def human(text):
    return {"from": "human", "value": text}


def gpt(text):
    return {"from": "gpt", "value": text}


def image_record(record_id, image="red.png", question="What colour is the shape?", answer="The shape is red."):
    return {"id": record_id, "image": image, "conversations": [human(f"<image>\n{question}"), gpt(answer)]}


def text_record(record_id, question="How many circles are there?", answer="There are two circles."):
    return {"id": record_id, "conversations": [human(question), gpt(answer)]}


@pytest.fixture
def write_data(tmp_path):
    """write_data(records, fmt="json"|"jsonl", name=None) -> path; also writes images/red.png
    (40x24, non-square so padding shows) and images/blue.png (24x24)."""
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (40, 24), (255, 0, 0)).save(images / "red.png")
    Image.new("RGB", (24, 24), (0, 0, 255)).save(images / "blue.png")

    def write(records, fmt="json", name=None) -> Path:
        path = tmp_path / (name or f"data.{fmt}")
        if fmt == "json":
            path.write_text(json.dumps(records, indent=1))
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    return write


@pytest.fixture
def make_dataset(tokenizer, image_processor, tmp_path):
    """make_dataset(path, **overrides) -> LazySupervisedDataset with the test defaults."""
    from llava.data.conversation import get_template
    from llava.data.dataset import LazySupervisedDataset

    def make(path, **overrides):
        options = dict(
            template=get_template("vicuna_v1"),
            image_folder=str(tmp_path / "images"),
            num_image_tokens=NUM_IMAGE_TOKENS,
            model_max_length=256,
        )
        options.update(overrides)
        return LazySupervisedDataset(str(path), tokenizer, image_processor, **options)

    return make


WORDS = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "Be", "brief", ".", "USER", ":", "What", "colour", "?",
         "ASSISTANT", "Red", "And", "shape", "A", "circle"]


@pytest.fixture(scope="session")
def word_tokenizer():
    """A word-level tokenizer with a fixed vocabulary (ids = positions in WORDS), for pinned ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        additional_special_tokens=["<image>"],
    )
