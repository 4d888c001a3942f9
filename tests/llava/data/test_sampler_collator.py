"""ModalityLengthGroupedSampler and DataCollatorForSupervisedDataset, ending in a tiny Llava forward."""
import random

import pytest
import torch
from torch.utils.data import DataLoader

from llava.data.collator import DataCollatorForSupervisedDataset
from llava.data.preprocess import IGNORE_INDEX
from llava.data.sampler import ModalityLengthGroupedSampler, split_balanced

from ..conftest import IMAGE_PX, NUM_IMAGE_TOKENS, image_record, text_record


def mixed_lengths(num_image, num_text, seed=0):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 100) for _ in range(num_image)] + [-rng.randint(1, 100) for _ in range(num_text)]
    rng.shuffle(lengths)
    return lengths


def check_epoch(sampler, lengths, batch_size):
    batches = list(sampler)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))  # every index exactly once
    assert len(batches) == len(sampler)
    assert all(1 <= len(b) <= batch_size for b in batches)
    if sampler.group_by_modality:
        assert all(len({lengths[i] > 0 for i in b}) == 1 for b in batches)  # one modality per batch
    return batches


@pytest.mark.parametrize(
    "num_image, num_text, batch_size, world_size",
    [
        (37, 23, 4, 1),  # mixed, neither count a multiple of the batch
        (37, 23, 4, 2),
        (40, 0, 4, 2),  # all multimodal (LLaVA's sampler fails here)
        (0, 25, 4, 1),  # all text-only
        (2, 1, 8, 2),  # smaller than one megabatch
        (1, 0, 4, 4),  # a single sample
    ],
)
def test_each_index_once_and_batches_never_mix(num_image, num_text, batch_size, world_size):
    lengths = mixed_lengths(num_image, num_text)
    sampler = ModalityLengthGroupedSampler(lengths, batch_size, world_size, seed=3)
    check_epoch(sampler, lengths, batch_size)


def test_batch_count_for_a_known_split():
    # 10 image + 5 text, batch 4, 1 rank: image 2 full + a tail of 2 -> 3; text 1 full + a tail of 1 -> 2
    sampler = ModalityLengthGroupedSampler([5] * 10 + [-5] * 5, batch_size=4, world_size=1, seed=0)
    batches = check_epoch(sampler, [5] * 10 + [-5] * 5, 4)
    assert len(batches) == 5 and sorted(len(b) for b in batches) == [1, 2, 4, 4, 4]
    assert [len(b) for b in batches[-2:]] in ([2, 1], [1, 2])  # the smaller batches come last


def test_ungrouped_mixes_modalities_but_still_covers_everything():
    lengths = mixed_lengths(30, 30)
    sampler = ModalityLengthGroupedSampler(lengths, 4, 1, seed=0, group_by_modality=False)
    batches = check_epoch(sampler, lengths, 4)
    assert any(len({lengths[i] > 0 for i in b}) == 2 for b in batches)


def test_deterministic_per_seed_and_epoch():
    lengths = mixed_lengths(30, 20)
    a = ModalityLengthGroupedSampler(lengths, 4, 2, seed=7)
    b = ModalityLengthGroupedSampler(lengths, 4, 2, seed=7)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(ModalityLengthGroupedSampler(lengths, 4, 2, seed=8)) != first


def test_megabatches_group_similar_lengths():
    lengths = list(range(1, 65))  # distinct, all image
    sampler = ModalityLengthGroupedSampler(lengths, 4, 1, seed=0, megabatch_steps=16)  # one megabatch: sorted
    for batch in sampler:
        assert sorted(lengths[i] for i in batch) == list(range(min(lengths[i] for i in batch),
                                                               max(lengths[i] for i in batch) + 1))


def test_split_balanced_evens_out_ranks():
    lengths = [100, 90, 10, 5]
    assert split_balanced([0, 1, 2, 3], 2, lengths) == [[0, 3], [1, 2]]  # totals 105 and 100
    assert split_balanced([0, 1, 2], 3, [0, 0, 0]) == [[0], [1], [2]]  # no empty chunk on ties


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no samples"):
        ModalityLengthGroupedSampler([], 4)
    with pytest.raises(ValueError, match="length of 0 has no sign"):
        ModalityLengthGroupedSampler([3, 0, -2], 4)
    with pytest.raises(ValueError, match="must be >= 1"):
        ModalityLengthGroupedSampler([3], 0)


def item(ids, labels, pixel_value=None, sample_id="x"):
    sample = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "id": sample_id}
    if pixel_value is not None:
        sample["pixel_values"] = torch.full((3, 2, 2), float(pixel_value))
    return sample


def test_collator_pads_masks_and_stacks_only_image_samples():
    collate = DataCollatorForSupervisedDataset(pad_token_id=3, model_max_length=8)
    batch = collate([
        item([1, 4, 4, 7, 2], [-100, -100, -100, 7, 2], pixel_value=1.0),
        item([1, 8, 2], [-100, 8, 2]),
        item([1, 4, 9, 2], [-100, -100, 9, 2], pixel_value=2.0),
    ])
    assert set(batch) == {"input_ids", "attention_mask", "labels", "pixel_values"}
    assert batch["input_ids"].tolist() == [[1, 4, 4, 7, 2], [1, 8, 2, 3, 3], [1, 4, 9, 2, 3]]
    assert batch["labels"].tolist() == [[-100, -100, -100, 7, 2], [-100, 8, 2, -100, -100], [-100, -100, 9, 2, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]
    assert batch["pixel_values"].shape == (2, 3, 2, 2)
    assert batch["pixel_values"][:, 0, 0, 0].tolist() == [1.0, 2.0]  # image samples, in batch order


def test_collator_mask_comes_from_lengths_not_pad_id():
    collate = DataCollatorForSupervisedDataset(pad_token_id=2)  # pad == eos, as some setups do
    batch = collate([item([1, 5, 2], [-100, 5, 2]), item([1, 2], [-100, 2])])
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert "pixel_values" not in batch  # text-only batch


def test_collator_errors(tokenizer):
    collate = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=3)
    assert collate.pad_token_id == tokenizer.pad_token_id
    with pytest.raises(ValueError, match="sample 'long-7' has 4 tokens > model_max_length 3"):
        collate([item([1, 2], [1, 2]), item([1, 5, 6, 2], [1, 5, 6, 2], sample_id="long-7")])
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


def tiny_llava(tokenizer):
    """CLIP tower 32 wide, 32-px images, 16-px patches (4 image tokens); Llama 32 wide."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=IMAGE_PX, patch_size=16)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                       pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                         vision_feature_select_strategy="default",
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         image_seq_length=NUM_IMAGE_TOKENS)
    torch.manual_seed(0)
    return LlavaForConditionalGeneration._from_config(config)


def test_dataset_sampler_collator_feed_a_tiny_llava(write_data, make_dataset, tokenizer):
    records = [image_record("img-1"), text_record("txt-1"), image_record("img-2", image="blue.png"),
               text_record("txt-2", answer="Yes."), image_record("img-3", answer="Red.")]
    dataset = make_dataset(write_data(records))
    sampler = ModalityLengthGroupedSampler(dataset.modality_lengths, batch_size=2, world_size=1, seed=0)
    collate = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=256)
    batches = list(DataLoader(dataset, batch_sampler=sampler, collate_fn=collate))
    assert sum(b["input_ids"].shape[0] for b in batches) == 5
    assert sorted(b.get("pixel_values", torch.empty(0, 3, IMAGE_PX, IMAGE_PX)).shape[0] for b in batches) == [0, 1, 2]

    # A batch mixing an image and a text-only sample: Llava must accept the stacked images as they are.
    mixed = collate([dataset[0], dataset[1]])
    assert mixed["pixel_values"].shape == (1, 3, IMAGE_PX, IMAGE_PX)
    model = tiny_llava(tokenizer)
    loss = model(**mixed).loss
    assert torch.isfinite(loss) and loss.item() > 0
    text_only = collate([dataset[1], dataset[3]])
    assert "pixel_values" not in text_only and torch.isfinite(model(**text_only).loss)
    assert (mixed["labels"] != IGNORE_INDEX).sum() > 0
