"""Batched generation (llava.eval.generate) and the model_vqa CLI on a tiny random LLaVA.

The model's answers are garbage; what is checked is that batching, padding, prompts,
stopping, resuming and chunking behave.
"""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from llava.data.conversation import USER, get_template
from llava.data.preprocess import IGNORE_INDEX, tokenize_conversation
from llava.eval.answers_file import answered_ids
from llava.eval.generate import Sampling, generate_answers, generate_tokens, prepare_batch
from llava.eval.inputs import left_pad, prompt_ids
from llava.eval.model_vqa import main as model_vqa_main
from llava.eval.model_vqa import model_id_of
from llava.eval.questions import QuestionFileError, get_chunk, read_questions, with_suffix
from llava.model.checkpoint import load_pretrained_model
from llava.model.config import num_image_tokens

from .eval_fixtures import run_vqa

VICUNA = get_template("vicuna_v1")


def answers_of(model, processor, setup, batch_size, max_new_tokens=6):
    questions = read_questions(setup["questions"])
    out = generate_answers(model, processor, questions, template=VICUNA, image_folder=setup["images"],
                           batch_size=batch_size, sampling=Sampling(max_new_tokens=max_new_tokens), progress=False)
    return [(q.question_id, text) for q, text in out]


# --- batching -----------------------------------------------------------------------------

def test_batched_greedy_equals_one_at_a_time(setup, loaded):
    model, processor = loaded
    questions = read_questions(setup["questions"])
    ids, mask, pixels = prepare_batch(questions, processor, template=VICUNA, image_folder=setup["images"],
                                      image_tokens=num_image_tokens(model.config), image_aspect_ratio="pad")
    lengths = mask.sum(dim=1)
    assert len(set(lengths.tolist())) > 2  # real left padding happens in this batch
    assert pixels.shape == (4, 3, 32, 32)  # four image questions, one text-only

    alone = answers_of(model, processor, setup, batch_size=1)
    for batch_size in (2, 5):
        assert answers_of(model, processor, setup, batch_size=batch_size) == alone
    assert [qid for qid, _ in alone] == [0, "q1", 2, 3, 4]


def test_left_padded_rows_get_the_same_scores_as_alone(setup, loaded):
    """Stronger than equal argmax: every step's logits of a padded row match its unpadded run."""
    model, processor = loaded
    questions = read_questions(setup["questions"])
    kwargs = dict(template=VICUNA, image_folder=setup["images"], image_tokens=num_image_tokens(model.config),
                  image_aspect_ratio="pad")
    gen = dict(max_new_tokens=4, do_sample=False, output_scores=True, return_dict_in_generate=True,
               pad_token_id=processor.tokenizer.pad_token_id, eos_token_id=None)

    def run(batch):
        ids, mask, pixels = prepare_batch(batch, processor, **kwargs)
        # transformers 5.23's Llava generate crashes on an explicit pixel_values=None: leave it out
        images = {} if pixels is None else {"pixel_values": pixels}
        return model.generate(input_ids=ids, attention_mask=mask, **images, **gen)

    with torch.no_grad():
        batched = run(questions)
        for row, question in enumerate(questions):
            alone = run([question])
            for step, (b, a) in enumerate(zip(batched.scores, alone.scores)):
                torch.testing.assert_close(b[row], a[0], atol=1e-4, rtol=1e-4,
                                           msg=f"question {question.question_id}, step {step}")


def test_left_pad_puts_every_prompt_at_the_right_edge():
    ids, mask = left_pad([torch.tensor([5, 6, 7]), torch.tensor([8])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_prompt_is_the_prefix_of_the_training_sequence(loaded):
    """Inference tokenises exactly as training: same image placement, same spacing."""
    model, processor = loaded
    tokenizer, n = processor.tokenizer, num_image_tokens(model.config)
    question, answer = "What colour is the shape?", "red"
    train = tokenize_conversation([{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
                                  VICUNA, tokenizer, num_image_tokens=n, sample_id="t", expected_images=1)
    prompt = prompt_ids([(USER, question)], VICUNA, tokenizer, has_image=True, num_image_tokens=n,
                        image_token="<image>", name="t")
    first_reply = int(torch.nonzero(train.labels != IGNORE_INDEX)[0])
    assert prompt.tolist() == train.input_ids[:first_reply].tolist()
    assert int((prompt == model.config.image_token_index).sum()) == n


# --- stopping and decoding ------------------------------------------------------------------

def _biased(model, token_id):
    """A copy of the model whose next token is always ``token_id`` (a huge lm_head bias)."""
    biased = copy.deepcopy(model)
    head = biased.lm_head
    new_head = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    new_head.weight.data.copy_(head.weight.data)
    new_head.bias.data.zero_()
    new_head.bias.data[token_id] = 1e4
    biased.lm_head = new_head
    return biased


def test_stops_at_eos_and_decodes_only_new_tokens(setup, loaded):
    model, processor = loaded
    tokenizer = processor.tokenizer
    questions = read_questions(setup["questions"])[:2]
    common = dict(template=VICUNA, image_folder=setup["images"], batch_size=2, progress=False)

    eos_model = _biased(model, tokenizer.eos_token_id)
    assert [t for _, t in generate_answers(eos_model, processor, questions, sampling=Sampling(max_new_tokens=5), **common)] == ["", ""]

    # a token that decodes to " <letters>", e.g. " shape"
    word_id, word = next((i, tokenizer.decode([i])) for i in range(len(tokenizer))
                         if tokenizer.decode([i]).startswith(" ") and tokenizer.decode([i])[1:].isalpha())
    word_model = _biased(model, word_id)
    texts = [t for _, t in generate_answers(word_model, processor, questions, sampling=Sampling(max_new_tokens=3), **common)]
    assert texts == [(word * 3).strip()] * 2  # no prompt text, no padding, stripped, max_new_tokens respected


def test_generate_tokens_returns_only_the_new_columns(setup, loaded):
    model, processor = loaded
    ids, mask = left_pad([torch.tensor([1, 5, 6]), torch.tensor([1, 7])], processor.tokenizer.pad_token_id)
    new = generate_tokens(_biased(model, 9), processor.tokenizer, ids, mask, None, Sampling(max_new_tokens=4))
    assert new.tolist() == [[9] * 4] * 2


def test_sampling_settings():
    greedy = Sampling(temperature=0.0, top_p=0.9).generate_kwargs(type("T", (), {"eos_token_id": 2, "pad_token_id": 0}))
    assert greedy["do_sample"] is False and "temperature" not in greedy and "top_p" not in greedy
    sampled = Sampling(temperature=0.7, top_p=0.9, num_beams=2).generate_kwargs(
        type("T", (), {"eos_token_id": 2, "pad_token_id": None}))
    assert sampled["do_sample"] is True and sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9
    assert sampled["pad_token_id"] == 2 and sampled["num_beams"] == 2
    with pytest.raises(ValueError):
        Sampling(top_p=1.5)


# --- question files --------------------------------------------------------------------------

def test_bad_questions_name_the_id_and_line(tmp_path, setup, loaded):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1, "text": "ok"}\n{"question_id": 7, "image": "x.png"}\n')
    with pytest.raises(QuestionFileError, match=r"bad\.jsonl:2: question 7: 'text' is missing"):
        read_questions(bad)
    bad.write_text('{"question_id": 1, "text": "a"}\n\n{"question_id": 1, "text": "b"}\n')
    with pytest.raises(QuestionFileError, match=r"bad\.jsonl:3: question 1 repeats .*bad\.jsonl:1"):
        read_questions(bad)
    model, processor = loaded
    missing = [{"question_id": "m9", "image": "nope.png", "text": "What colour?"}]
    with pytest.raises(QuestionFileError, match=r"question 'm9'.*missing_image.*nope\.png"):
        list(generate_answers(model, processor, missing, template=VICUNA, image_folder=setup["images"],
                              batch_size=2, sampling=Sampling(max_new_tokens=2), progress=False))


def test_chunks_are_contiguous_balanced_and_cover_everything():
    items = list(range(10))
    chunks = [get_chunk(items, 4, i) for i in range(4)]
    assert chunks == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert get_chunk(items[:2], 3, 2) == []
    with pytest.raises(ValueError):
        get_chunk(items, 2, 2)


def test_answer_suffix_is_never_appended_twice():
    suffix = "Answer the question using a single word or phrase."
    assert with_suffix("What colour?", suffix) == f"What colour?\n{suffix}"
    assert with_suffix(f"What colour?\n{suffix}", suffix) == f"What colour?\n{suffix}"
    assert with_suffix("What colour?", None) == "What colour?"


def test_model_id_is_the_basename():
    assert model_id_of("checkpoints/tiny-teamlora/") == "tiny-teamlora"
    assert model_id_of("runs/exp/checkpoint-500") == "exp_checkpoint-500"


def test_convert_mmbench_and_scienceqa_question_files(tmp_path):
    import base64
    import io

    from llava.eval.convert_questions import main as convert_main

    png = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 255, 0)).save(png, format="PNG")
    cells = ["7", "What colour?", "nan", "red", "green", "", "B", base64.b64encode(png.getvalue()).decode()]
    (tmp_path / "mmb.tsv").write_text("index\tquestion\thint\tA\tB\tC\tanswer\timage\n" + "\t".join(cells) + "\n")
    convert_main(["mmbench", "--tsv", str(tmp_path / "mmb.tsv"), "--out", str(tmp_path / "m.jsonl"),
                  "--image-folder", str(tmp_path / "img")])
    [question] = read_questions(tmp_path / "m.jsonl")
    assert (question.question_id, question.text, question.image) == ("7", "What colour?\nA. red\nB. green", "7.png")
    assert Image.open(tmp_path / "img" / "7.png").size == (20, 10)

    sqa = [{"id": "12", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nWhich? A. x"}]},
           {"id": "13", "conversations": [{"from": "human", "value": "Text only?"}]}]
    (tmp_path / "sqa.json").write_text(json.dumps(sqa))
    convert_main(["sqa", "--src", str(tmp_path / "sqa.json"), "--out", str(tmp_path / "s.jsonl")])
    converted = read_questions(tmp_path / "s.jsonl")
    assert [(q.question_id, q.text, q.image) for q in converted] == [("12", "Which? A. x", "a.png"),
                                                                   ("13", "Text only?", None)]


# --- model_vqa: output, resume, chunks -------------------------------------------------------

def read_lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def full_answers(setup, tmp_path_factory):
    path = tmp_path_factory.mktemp("vqa") / "answers.jsonl"
    assert run_vqa(setup, path) == 5
    return path


def test_model_vqa_writes_one_llava_record_per_question(setup, full_answers, loaded):
    records = read_lines(full_answers)
    assert [r["question_id"] for r in records] == [0, "q1", 2, 3, 4]
    for r in records:
        assert set(r) == {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}
        assert r["model_id"] == "tiny"
    assert records[0]["prompt"] == "What colour is the shape?"
    assert records[0]["metadata"] == {"category": "colour"}
    model, processor = loaded
    assert [r["text"] for r in records] == [t for _, t in answers_of(model, processor, setup, 3, max_new_tokens=5)]


def test_model_vqa_resumes_after_a_kill_mid_write(setup, full_answers, tmp_path, caplog):
    lines = full_answers.read_text().splitlines(keepends=True)
    resumed = tmp_path / "answers.jsonl"
    resumed.write_text("".join(lines[:2]) + lines[2][:17])  # killed while writing the third line
    assert run_vqa(setup, resumed) == 3
    assert "half-written last line" in caplog.text
    assert resumed.read_text() == full_answers.read_text()  # nothing redone twice, nothing lost
    assert run_vqa(setup, resumed) == 0  # complete: nothing to do, the model is not even loaded


def test_answered_ids_keeps_a_complete_last_line_without_newline(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": 1, "text": "x"}\n{"question_id": "b", "text": "y"}')
    assert answered_ids(path) == {"1", "b"}
    assert path.read_text().endswith("}\n")
    path.write_text('{"question_id": 1, "text": "x"}\n{"question_id": 1, "te\n{"question_id": 2, "text": "z"}\n')
    with pytest.raises(ValueError, match=r"a\.jsonl:2: corrupt line"):
        answered_ids(path)


def test_model_vqa_chunks_concatenate_to_the_full_run(setup, full_answers, tmp_path):
    parts = []
    for idx in range(2):
        path = tmp_path / f"2_{idx}.jsonl"
        run_vqa(setup, path, "--num-chunks", "2", "--chunk-idx", str(idx))
        parts.append(path.read_text())
    assert "".join(parts) == full_answers.read_text()


def test_model_vqa_bad_question_exits_with_one_message(setup, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question_id": 1, "text": "a"}\n{"question_id": 5, "image": "gone.png", "text": "b"}\n')
    with pytest.raises(SystemExit) as exit_info:
        model_vqa_main(["--model-path", str(setup["model_dir"]), "--question-file", str(questions),
                        "--image-folder", setup["images"], "--answers-file", str(tmp_path / "a.jsonl")])
    assert exit_info.value.code == 2
    assert "q.jsonl:2: question 5: image file not found" in capsys.readouterr().err
    assert not (tmp_path / "a.jsonl").exists()  # checked before anything is generated


@pytest.mark.slow
def test_teamlora_checkpoint_end_to_end(setup, tmp_path):
    """Train a few TeamLoRA steps, then answer and score from the adapter checkpoint, batched == alone."""
    data = setup["data"]
    run = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "llava.train.train", "--model_name_or_path", str(setup["model_dir"]),
         "--data_path", str(data.train_json), "--image_folder", str(data.image_folder), "--output_dir", str(run),
         "--peft", "teamlora", "--adapter_r", "4", "--max_steps", "2", "--per_device_train_batch_size", "4",
         "--report_to", "none", "--use_cpu", "--model_max_length", "256", "--remove_unused_columns", "False"],
        check=True, capture_output=True, timeout=300,
    )
    model, processor = load_pretrained_model(run)
    assert answers_of(model, processor, setup, batch_size=5) == answers_of(model, processor, setup, batch_size=1)
    answers = tmp_path / "answers.jsonl"
    model_vqa_main(["--model-path", str(run), "--question-file", str(data.test_questions),
                    "--image-folder", str(data.image_folder), "--answers-file", str(answers), "--max_new_tokens", "4"])
    result = subprocess.run(
        [sys.executable, "-m", "llava.eval.task_accuracy", "--answers", str(answers), "--gt", str(data.test_answers)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["num_questions"] == 6 and set(summary["per_task"]) == {
        "colour", "count", "position", "shape", "digit", "bigger"}
