"""pytest fixtures of the generation, model_vqa, answers-file and chat tests: the tiny set-up is built once."""
import pytest

from llava.model.checkpoint import load_pretrained_model

from .eval_fixtures import make_eval_setup


@pytest.fixture(scope="session")
def setup(tmp_path_factory):
    """A tiny random LLaVA, synthetic images and a question file (``eval_fixtures.make_eval_setup``); read only."""
    return make_eval_setup(tmp_path_factory.mktemp("eval"))


@pytest.fixture(scope="module")
def loaded(setup):
    """(model, processor) of the set-up's checkpoint, in eval mode."""
    return load_pretrained_model(setup["model_dir"])
