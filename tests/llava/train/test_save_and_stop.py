"""Save and stop before a scheduler's kill: a signal or the time budget ends the run with checkpoint-N saved
and exit code 75, and the same command continues it to the same losses."""
import os
import signal

import pytest
from transformers import TrainerCallback, TrainerControl, TrainerState

from llava.train.save_and_stop import STOPPED_EXIT_CODE, SaveAndStopCallback, parse_signals
from llava.train.train import main

from .train_fixtures import build_assets, train_args


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("stop_assets"), num_train=48)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def steps_until_stop(callback, clock, step_seconds, max_steps=100):
    """Drive the callback with steps of the given durations; the step at which it stops (or None)."""
    state, control = TrainerState(), TrainerControl()
    callback.on_train_begin(None, state, control)
    try:
        for step in range(1, max_steps + 1):
            clock.now += step_seconds(step)
            state.global_step = step
            callback.on_step_end(None, state, control)
            if control.should_training_stop:
                assert control.should_save
                return step
    finally:
        callback.on_train_end(None, state, control)
    return None


def test_time_budget_keeps_the_margin():
    clock = FakeClock()
    # 100 s budget, 10 s margin, 2 s steps (three of them, 6 s, are under the margin): t=90 -> step 45
    stop = SaveAndStopCallback(time_limit_s=100, margin_s=10, clock=clock)
    assert steps_until_stop(stop, clock, lambda step: 2.0) == 45 and stop.stopped == "time limit"


def test_time_budget_keeps_three_slow_steps_when_they_exceed_the_margin():
    clock = FakeClock()
    # one 20 s step (a save) at step 2: three of those (60 s) must be left -> stop once t >= 40
    stop = SaveAndStopCallback(time_limit_s=100, margin_s=10, clock=clock)
    assert steps_until_stop(stop, clock, lambda step: 20.0 if step == 2 else 5.0) == 5  # t = 5+20+5+5+5 = 40


def test_time_budget_counts_from_the_process_start():
    clock = FakeClock()
    clock.now = 50.0  # loading and pre-flight took 50 s of the budget
    stop = SaveAndStopCallback(time_limit_s=100, margin_s=10, clock=clock, started_at=0.0)
    assert steps_until_stop(stop, clock, lambda step: 2.0) == 20  # 50 + 20 * 2 + 10 >= 100


def test_no_trigger_no_stop():
    clock = FakeClock()
    stop = SaveAndStopCallback(signals=parse_signals("SIGUSR1"), clock=clock)
    assert steps_until_stop(stop, clock, lambda step: 1e6, max_steps=5) is None and stop.stopped is None


def test_signal_names():
    assert parse_signals("SIGTERM, usr1") == (signal.SIGTERM, signal.SIGUSR1)
    assert parse_signals("none") == () == parse_signals("")
    with pytest.raises(ValueError, match="SIGKILL is not a signal that can be caught"):
        parse_signals("SIGTERM,KILL")
    with pytest.raises(ValueError, match="SIGNOPE"):
        parse_signals("NOPE")


class SignalAt(TrainerCallback):
    """Sends this process a signal at the start of optimizer step ``step`` (as a scheduler would, mid-step)."""

    def __init__(self, step, sig):
        self.step, self.sig = step, sig

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.step:
            os.kill(os.getpid(), self.sig)


def losses(trainer):
    return {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}


def test_signal_saves_stops_with_75_and_the_rerun_continues(assets, tmp_path):
    data, model_dir = assets
    common = ("--peft", "teamlora", "--adapter_r", "2", "--max_steps", "6", "--save_steps", "100",
              "--learning_rate", "3e-3")
    straight = losses(main(train_args(data, model_dir, tmp_path / "straight", *common)))
    out = tmp_path / "stopped"
    previous = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(SystemExit) as info:
        main(train_args(data, model_dir, out, *common), callbacks=[SignalAt(3, signal.SIGUSR1)])
    assert info.value.code == STOPPED_EXIT_CODE
    assert signal.getsignal(signal.SIGUSR1) is previous  # the handler is put back
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]  # the step that was running
    assert not (out / "adapter_model.safetensors").exists()  # no final model from an unfinished run
    resumed = main(train_args(data, model_dir, out, *common))
    assert resumed.state.global_step == 6 and (out / "adapter_model.safetensors").is_file()
    again = losses(resumed)
    assert sorted(again) == list(range(1, 7))
    for step in range(1, 7):
        assert again[step] == pytest.approx(straight[step], rel=1e-4, abs=1e-5), step


def test_bad_signal_flag_is_one_flag_error(assets, tmp_path):
    from llava.entry import FlagError

    data, model_dir = assets
    with pytest.raises(FlagError, match="SIGBOGUS"):
        main(train_args(data, model_dir, tmp_path / "o", "--stop_on_signals", "SIGBOGUS"))
    with pytest.raises(FlagError, match="--time_limit_hours must be > 0, got 0.0"):
        main(train_args(data, model_dir, tmp_path / "o", "--time_limit_hours", "0"))


def _rank_main(rank, folder):
    import json

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/pg", rank=rank, world_size=2)
    clock = FakeClock()
    stop = SaveAndStopCallback(clock=clock)
    state, control = TrainerState(), TrainerControl()
    stop.on_train_begin(None, state, control)
    for step in range(1, 7):
        if rank == 1 and step == 3:
            stop.received = "SIGTERM"  # only rank 1 was signalled, during step 3
        state.global_step = step
        stop.on_step_end(None, state, control)
        if control.should_training_stop:
            break
    with open(f"{folder}/rank{rank}.json", "w") as f:
        json.dump({"at": stop.stopped_at, "why": stop.stopped, "save": control.should_save}, f)
    dist.destroy_process_group()


def test_one_ranks_signal_stops_every_rank_at_the_same_step(tmp_path):
    import json

    import torch.multiprocessing as mp

    mp.spawn(_rank_main, args=(str(tmp_path),), nprocs=2, join=True)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0 == {"at": 3, "why": "another rank's signal", "save": True}
    assert rank1 == {"at": 3, "why": "SIGTERM", "save": True}
