"""An offline byte-level BPE tokenizer for the tiny LLaVA (no hub access needed).

Behaviour, chosen to match Llama/Vicuna tokenizers so the same preprocessing code
serves the tiny and the real model:

- ``tokenizer(text)`` prepends ``<s>`` (bos) through a post-processor and never
  appends ``</s>``; pass ``add_special_tokens=False`` to get the bare pieces.
- ``<image>`` is a special added token: always one id, never split, never merged
  with neighbours. The space before it (``"a <image>"``) becomes its own token,
  so tokenise prompts identically at training and inference.
- Padding is on the right by default; ``<pad>`` has its own id (not ``<unk>``).
"""
from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 512,
    image_token: str = "<image>",
    model_max_length: int = 2048,
    padding_side: str = "right",
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and wrap it for transformers.

    Special ids are fixed: <unk>=0, <s>=1, </s>=2, <pad>=3, then ``image_token``=4.
    The result round-trips through ``save_pretrained`` / ``AutoTokenizer.from_pretrained``.
    """
    core = Tokenizer(models.BPE(unk_token=UNK))
    # add_prefix_space=False: "USER:" at the start of a prompt and " USER:" mid-text
    # are different pieces, exactly as with a real byte-level BPE.
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = [UNK, BOS, EOS, PAD, image_token]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte stays encodable
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)

    bos_id = core.token_to_id(BOS)
    # Prepend bos like Llama's tokenizer; a pair gets one bos at the front only.
    core.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        model_max_length=model_max_length,
        padding_side=padding_side,
    )
    # Registers <image> as an added special token (it already has id 4 in the vocab).
    tokenizer.add_special_tokens({"additional_special_tokens": [image_token]})
    return tokenizer
