"""The tokenizer's corpus: template pieces first, each turn also after a space; a bad record is named."""
import pytest

from llava.model.tiny.texts import TEMPLATE_TEXTS, TEMPLATE_WEIGHT, dataset_texts, tokenizer_corpus


def test_corpus_weights_the_template_and_gives_each_text_with_a_leading_space():
    corpus = list(tokenizer_corpus(["red", "two circles"]))
    assert len(corpus) == TEMPLATE_WEIGHT * len(TEMPLATE_TEXTS) + 4
    assert corpus[:len(TEMPLATE_TEXTS)] == list(TEMPLATE_TEXTS)
    assert corpus[-4:] == ["red", " red", "two circles", " two circles"]


def test_dataset_texts_names_a_malformed_record(tmp_path):
    (tmp_path / "pretrain.json").write_text('[{"id": "ok", "conversations": [{"from": "human", "value": "hi"}]}]')
    (tmp_path / "train.json").write_text('[{"id": "broken-7", "conversations": [{"from": "human"}]}]')
    with pytest.raises(ValueError, match=r"train\.json: record 'broken-7'"):
        list(dataset_texts(tmp_path))
    (tmp_path / "train.json").unlink()
    with pytest.raises(FileNotFoundError, match="llava.data.synthetic"):
        list(dataset_texts(tmp_path))
