"""One synthetic set and one tiny model for the whole tiny package's tests (built once, seconds)."""
import pytest

from llava.data.synthetic import generate_dataset
from llava.model.tiny import build_tiny_llava, dataset_texts


@pytest.fixture(scope="package")
def data(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("syn"), num_train=30, num_test=2, seed=0)


@pytest.fixture(scope="package")
def tiny_dir(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return build_tiny_llava(out, dataset_texts(data.root), seed=0, text_hidden=64, vision_hidden=64, vocab_size=400)
