"""The training entry point on a tiny LLaVA: checkpoints that load, resume after a crash, bad flags."""
import json
import shutil

import pytest
import torch
from transformers import TrainerCallback

from llava.model.checkpoint import load_pretrained_model
from llava.train.train import main
from teamlora import adapted_layers

from .train_fixtures import build_assets, train_args


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("train_assets"))


def losses(trainer):
    return {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}


class StepRecorder(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


class CrashAt(TrainerCallback):
    """Simulates a killed job: raises after `step` optimizer steps."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"simulated kill at step {self.step}")


def test_teamlora_run_writes_loadable_checkpoints(assets, tmp_path):
    data, model_dir = assets
    out = tmp_path / "run"
    trainer = main(train_args(data, model_dir, out, "--peft", "teamlora", "--adapter_r", "4", "--max_steps", "6",
                              "--save_steps", "3", "--learning_rate", "3e-3", "--mm_projector_lr", "1e-3",
                              "--group_by_modality_length", "True"))
    loss = losses(trainer)
    groups = trainer.optimizer.param_groups
    projector = {id(p) for p in trainer.model.model.multi_modal_projector.parameters()}
    assert groups[0]["initial_lr"] == 3e-3  # main group first: it is the one the logs show
    for group in groups:
        in_projector = {id(p) in projector for p in group["params"]}
        assert len(in_projector) == 1  # no group mixes projector and adapter parameters
        assert group["initial_lr"] == (1e-3 if in_projector.pop() else 3e-3)
    assert len(loss) == 6 and all(v == v for v in loss.values())
    for ckpt in (out / "checkpoint-3", out / "checkpoint-6", out):
        names = {p.name for p in ckpt.iterdir()}
        assert {"adapter_config.json", "adapter_model.safetensors", "config.json", "llava_run.json",
                "processor_config.json", "tokenizer.json"} <= names, (ckpt, names)
    assert {"optimizer.pt", "scheduler.pt", "trainer_state.json"} <= {p.name for p in (out / "checkpoint-3").iterdir()}
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert (out / "expert_utilisation.png").stat().st_size > 1000
    stats = [json.loads(line) for line in (out / "expert_stats.jsonl").read_text().splitlines()]
    assert len(stats) == 6 and all(abs(sum(phi) - 1) < 1e-4 for phi in stats[0]["layers"].values())
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["method"] == "teamlora" and saved["saved_modules"] == ["model.multi_modal_projector"]
    assert all(".language_model." in name for name in saved["adapted_modules"])

    # an intermediate checkpoint loads for inference on its own and generates
    model, processor = load_pretrained_model(out / "checkpoint-3")
    assert len(list(adapted_layers(model))) == 2 * 3
    inputs = processor.tokenizer("USER: hi ASSISTANT:", return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 3 or generated[0, -1] == processor.tokenizer.eos_token_id
    # the final adapter reproduces the trained model's logits
    final, _ = load_pretrained_model(out)
    trained = trainer.model.eval()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    batch.pop("labels")
    with torch.no_grad():
        assert torch.equal(final(**batch).logits, trained(**batch).logits)


def test_killed_run_resumes_to_the_same_losses(assets, tmp_path):
    data, model_dir = assets
    common = ("--peft", "lora", "--adapter_r", "4", "--max_steps", "8", "--save_steps", "4",
              "--learning_rate", "3e-3", "--group_by_modality_length", "True")
    straight = losses(main(train_args(data, model_dir, tmp_path / "straight", *common)))
    with pytest.raises(KeyboardInterrupt):
        main(train_args(data, model_dir, tmp_path / "killed", *common), callbacks=[CrashAt(6)])
    assert (tmp_path / "killed" / "checkpoint-4").is_dir() and not (tmp_path / "killed" / "checkpoint-8").exists()
    recorder = StepRecorder()
    resumed_trainer = main(train_args(data, model_dir, tmp_path / "killed", *common), callbacks=[recorder])
    assert recorder.steps == [5, 6, 7, 8]  # auto-resumed from checkpoint-4, not restarted
    resumed = losses(resumed_trainer)  # steps 1-4 come back from checkpoint-4's trainer state
    assert sorted(resumed) == list(range(1, 9))
    assert resumed_trainer.state.global_step == 8
    for step in range(1, 9):
        assert resumed[step] == pytest.approx(straight[step], rel=1e-4, abs=1e-5), step


def test_stage1_projector_only_and_full_modes(assets, tmp_path):
    data, model_dir = assets
    common = ("--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-3")
    proj = main(train_args(data, model_dir, tmp_path / "proj", "--tune_mm_mlp_adapter", "True",
                           "--conv_template", "plain", "--data_path", str(data / "pretrain.json"), *common))
    trainable = [n for n, p in proj.model.named_parameters() if p.requires_grad]
    assert trainable and all("multi_modal_projector" in n for n in trainable)
    assert (tmp_path / "proj" / "mm_projector.safetensors").is_file()
    reloaded, _ = load_pretrained_model(tmp_path / "proj")
    torch.testing.assert_close(reloaded.model.multi_modal_projector.linear_1.weight,
                               proj.model.model.multi_modal_projector.linear_1.weight.detach())

    full = main(train_args(data, model_dir, tmp_path / "full", "--peft", "none", *common))
    names = {n for n, p in full.model.named_parameters() if p.requires_grad}
    assert any("language_model" in n for n in names) and not any("vision_tower" in n for n in names)
    reloaded, _ = load_pretrained_model(tmp_path / "full")
    torch.testing.assert_close(reloaded.lm_head.weight, full.model.lm_head.weight.detach())


def test_unknown_peft_method_is_named(assets, tmp_path):
    data, model_dir = assets
    with pytest.raises(ValueError, match="--peft 'mole' is not a method; choose one of none, lora"):
        main(train_args(data, model_dir, tmp_path / "x", "--peft", "mole", "--max_steps", "1"))


@pytest.mark.parametrize("extra,message", [
    (("--peft", "teamlora", "--bits", "3"), "--bits must be 4, 8 or 16"),
    (("--peft", "none", "--bits", "4"), "needs an adapter method"),
    (("--peft", "teamlora", "--bits", "4"), "needs a CUDA GPU and bitsandbytes"),
    (("--peft", "lora", "--tune_mm_mlp_adapter", "True"), "cannot be combined"),
])
def test_bad_training_flags_are_named(assets, tmp_path, extra, message):
    if "CUDA" in message and torch.cuda.is_available():
        pytest.skip("a GPU is present: the QLoRA path is allowed here")
    data, model_dir = assets
    with pytest.raises(ValueError, match=message):
        main(train_args(data, model_dir, tmp_path / "x", *extra, "--max_steps", "1"))


def test_adapter_flags_become_the_config():
    from llava.train.args import ModelArguments
    from llava.train.build import adapter_config
    from teamlora import AdapterConfigError

    cfg = adapter_config(ModelArguments(model_name_or_path="m", peft="teamlora", adapter_targets="gate_proj, up_proj"))
    assert cfg.target_modules == ["gate_proj", "up_proj"] and cfg.num_experts == 4 and cfg.r == 32
    assert cfg.modules_scope == "language_model" and cfg.modules_to_save == ["multi_modal_projector"]
    cfg = adapter_config(ModelArguments(model_name_or_path="m", peft="lora", adapter_targets=r"re:.*\.(q|v)_proj",
                                        freeze_mm_mlp_adapter=True))
    assert cfg.target_modules == r".*\.(q|v)_proj" and cfg.num_experts == 1 and cfg.modules_to_save == []
    with pytest.raises(AdapterConfigError, match="does not compile"):
        adapter_config(ModelArguments(model_name_or_path="m", peft="moelora", adapter_targets="re:(q"))
    ablation = adapter_config(ModelArguments(model_name_or_path="m", peft="teamlora", use_interaction=False))
    assert ablation.use_interaction is False
    with pytest.raises(AdapterConfigError, match="use_interaction=False is a teamlora ablation; 'moelora'"):
        adapter_config(ModelArguments(model_name_or_path="m", peft="moelora", use_interaction=False))


def test_balance_loss_is_added_by_the_trainer(assets, tmp_path):
    data, model_dir = assets
    args = ("--peft", "teamlora", "--adapter_r", "4", "--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-3")
    plain = main(train_args(data, model_dir, tmp_path / "plain", *args))
    balanced = main(train_args(data, model_dir, tmp_path / "bal", *args, "--balance_loss_coef", "10"))
    assert balanced.balance_coef == 10.0 and plain.balance_coef == 0.0
    # same seed and data: the first logged loss differs only by the (positive) balance term
    assert losses(balanced)[1] > losses(plain)[1]
    assert not any(layer.holds_routing for _, layer in adapted_layers(balanced.model))  # consumed each step


class KilledInSave(Exception):
    """Stands for a SIGKILL that lands while a checkpoint is being written."""


def test_kill_during_a_save_never_blocks_the_restart(assets, tmp_path, monkeypatch, caplog):
    """A kill in the middle of saving checkpoint-6 (after its model files, before its optimizer state) leaves
    only a tmp-checkpoint-6 folder; a half-written checkpoint-6 of the kind older code left is skipped by name;
    the rerun resumes from checkpoint-4, reproduces the uninterrupted losses, and its expert_stats.jsonl holds
    every step once. Rotation (--save_total_limit 2) never counts the half-written folder."""
    from llava.train.trainer import LlavaTrainer

    data, model_dir = assets
    common = ("--peft", "teamlora", "--adapter_r", "4", "--max_steps", "8", "--save_steps", "2",
              "--learning_rate", "3e-3", "--save_total_limit", "2")
    straight = losses(main(train_args(data, model_dir, tmp_path / "straight", *common)))
    run = tmp_path / "killed"
    save_optimizer = LlavaTrainer._save_optimizer_and_scheduler

    def killed_at_6(self, output_dir):
        if self.state.global_step == 6:
            raise KilledInSave(output_dir)
        return save_optimizer(self, output_dir)

    monkeypatch.setattr(LlavaTrainer, "_save_optimizer_and_scheduler", killed_at_6)
    with pytest.raises(KilledInSave):
        main(train_args(data, model_dir, run, *common))
    monkeypatch.undo()
    staged = run / "tmp-checkpoint-6" / "checkpoint-6"
    assert (staged / "adapter_model.safetensors").is_file() and not (staged / "optimizer.pt").exists()
    assert not (run / "checkpoint-6").exists()  # the save never reached its final name
    assert [json.loads(line)["step"] for line in (run / "expert_stats.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5, 6]
    # what a kill during a non-atomic save leaves: model files under the final name, no optimizer or trainer state
    shutil.copytree(staged, run / "checkpoint-6")

    recorder = StepRecorder()
    with caplog.at_level("WARNING"):
        resumed_trainer = main(train_args(data, model_dir, run, *common), callbacks=[recorder])
    assert recorder.steps == [5, 6, 7, 8]  # from checkpoint-4, the newest complete one
    assert f"skipping incomplete checkpoint {run / 'checkpoint-6'} (no trainer_state.json" in caplog.text
    assert f"removing {run / 'tmp-checkpoint-6'}" in caplog.text
    resumed = losses(resumed_trainer)
    for step in range(1, 9):
        assert resumed[step] == pytest.approx(straight[step], rel=1e-4, abs=1e-5), step
    stats = [json.loads(line) for line in (run / "expert_stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in stats] == list(range(1, 9))  # steps 5 and 6 of the killed run dropped, not doubled
    # --save_total_limit 2 rotated complete checkpoints only; no staging folder is left
    assert sorted(p.name for p in run.iterdir() if "checkpoint" in p.name) == ["checkpoint-6", "checkpoint-8"]
    assert {"optimizer.pt", "trainer_state.json"} <= {p.name for p in (run / "checkpoint-6").iterdir()}
    assert json.loads((run / "checkpoint-8" / "trainer_state.json").read_text())["global_step"] == 8
