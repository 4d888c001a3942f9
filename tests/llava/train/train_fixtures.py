"""A small synthetic dataset and a random tiny LLaVA, built once per test session (seconds)."""
from pathlib import Path

from llava.data.synthetic import generate_dataset
from llava.model.tiny import build_tiny_llava, dataset_texts


def build_assets(root: Path, num_train: int = 160, num_test: int = 6):
    generate_dataset(root / "syn", num_train=num_train, num_test=num_test, seed=0, image_size=64)
    model_dir = build_tiny_llava(root / "tiny", dataset_texts(root / "syn"), seed=0, text_hidden=64,
                                 text_layers=2, vision_hidden=32, vision_layers=1, vocab_size=400)
    return root / "syn", Path(model_dir)


def train_args(data_dir: Path, model_dir: Path, out: Path, *extra: str):
    return [
        "--model_name_or_path", str(model_dir), "--data_path", str(data_dir / "train.json"),
        "--image_folder", str(data_dir / "images"), "--output_dir", str(out),
        "--per_device_train_batch_size", "4", "--logging_steps", "1", "--report_to", "none", "--use_cpu",
        "--model_max_length", "256", "--remove_unused_columns", "False", "--disable_tqdm", "True",
        "--seed", "0", "--save_strategy", "steps", *extra,
    ]
