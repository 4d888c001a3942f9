"""Shared set-up for the generation, model_vqa and chat tests: a tiny random LLaVA and a question file."""
import json
from pathlib import Path

from PIL import Image

from llava.data.synthetic import generate_dataset
from llava.eval.model_vqa import main as model_vqa_main
from llava.model.tiny import build_tiny_llava, dataset_texts


def make_eval_setup(root: Path) -> dict:
    """A synthetic dataset, a tiny random LLaVA (32-px images: 4 image tokens) and a question file
    of varied prompt lengths: square and non-square images, and a text-only question."""
    data = generate_dataset(root / "data", num_train=24, num_test=1, image_size=32)
    model_dir = build_tiny_llava(root / "tiny", dataset_texts(data.root), image_size=32, text_hidden=64,
                                 vision_hidden=64, vocab_size=300)
    Image.new("RGB", (40, 24), (200, 30, 30)).save(data.image_folder / "wide.png")
    questions = [
        {"question_id": 0, "image": "test_000000.png", "text": "What colour is the shape?", "category": "colour"},
        {"question_id": "q1", "image": "wide.png",
         "text": "Is the shape on the left or the right of the image? Look carefully.\nAnswer briefly."},
        {"question_id": 2, "text": "What is 3 plus 4?"},
        {"question_id": 3, "image": "test_000001.png", "text": "<image>\nHow many shapes?", "category": "count"},
        {"question_id": 4, "image": "test_000002.png", "text": "Describe the image in detail, please, now."},
    ]
    question_file = root / "questions.jsonl"
    question_file.write_text("".join(json.dumps(q) + "\n" for q in questions))
    return {"data": data, "model_dir": model_dir, "questions": question_file, "images": str(data.image_folder)}


def run_vqa(setup, answers, *extra):
    return model_vqa_main(["--model-path", str(setup["model_dir"]), "--question-file", str(setup["questions"]),
                           "--image-folder", setup["images"], "--answers-file", str(answers),
                           "--batch-size", "2", "--max_new_tokens", "5", *extra])
