"""Train LLaVA-1.5: stage 1 (projector), full fine-tuning, or stage 2 with TeamLoRA / LoRA / MoELoRA / HydraLoRA.

    python -m llava.train.train --model_name_or_path M --data_path D.json --image_folder I \\
        --output_dir O --peft teamlora [--deepspeed scripts/zero3.json] [any transformers TrainingArguments]

Run `python -m llava.train.train --help` for every flag. Launch several processes with
`deepspeed --num_gpus N -m llava.train.train ...` or `torchrun --nproc_per_node N -m llava.train.train ...`.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Optional, Sequence

import transformers
from transformers import HfArgumentParser, TrainerCallback

from llava.entry import FlagError, is_named_error, run_entry
from llava.model.input_format import input_format_record

from .args import DataArguments, ModelArguments, TrainingArguments
from .callbacks import PlotCallback
from .checkpoints import check_resumable, newest_complete
from .save_and_stop import STOPPED_EXIT_CODE, SaveAndStopCallback, parse_signals
from .build import (build_data, build_model, check_arguments, finish_data_report, init_distributed_for_cpu,
                    preflight_data)
from .trainer import LlavaTrainer

logger = logging.getLogger("llava.train")


@contextmanager
def plain_value_errors_as_flag_errors():
    """A plain ValueError raised while flags are read or checked (a __post_init__, ours or transformers',
    or check_arguments) is about the flags: one FlagError line at the command line. Named errors pass."""
    try:
        yield
    except ValueError as e:
        if is_named_error(type(e)):
            raise
        raise FlagError(str(e)) from e


def parse(argv: Optional[Sequence[str]] = None):
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    with plain_value_errors_as_flag_errors():
        return parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)


def resume_point(training_args: TrainingArguments) -> Optional[str]:
    """An explicit --resume_from_checkpoint wins (it must be complete); otherwise the newest complete
    checkpoint-* (auto_resume), naming each newer incomplete one it skips."""
    if training_args.resume_from_checkpoint:
        return check_resumable(training_args.resume_from_checkpoint, training_args.save_only_model)
    if training_args.auto_resume and os.path.isdir(training_args.output_dir):
        return newest_complete(training_args.output_dir, training_args.save_only_model)
    return None


def main(argv: Optional[Sequence[str]] = None, callbacks: Sequence[TrainerCallback] = ()) -> LlavaTrainer:
    """Parse argv (default: sys.argv), train, save. `callbacks` are added to the Trainer's (programmatic use).
    A run stopped by a signal or --time_limit_hours saves its checkpoint and exits with code 75."""
    started_at = time.monotonic()
    model_args, data_args, training_args = parse(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO if training_args.should_log else logging.WARNING)
    transformers.utils.logging.set_verbosity_warning()
    with plain_value_errors_as_flag_errors():
        check_arguments(model_args, training_args)
    init_distributed_for_cpu(training_args)
    transformers.set_seed(training_args.seed)  # adapters are initialised before the Trainer seeds anything

    model, processor, base_spec, save_mode = build_model(model_args, training_args)
    dataset, collator = build_data(data_args, training_args, model, processor)
    logger.info("data: %d records from %s", len(dataset), data_args.data_path)
    resume = resume_point(training_args)  # before the pre-flight: a bad --resume_from_checkpoint stops first
    # before any step: the table, or a named stop
    data_report = preflight_data(dataset, data_args, training_args, resuming=resume is not None)

    stop = SaveAndStopCallback(
        parse_signals(training_args.stop_on_signals), started_at=started_at,
        time_limit_s=None if training_args.time_limit_hours is None else training_args.time_limit_hours * 3600,
        margin_s=training_args.stop_margin_minutes * 60)
    trainer = LlavaTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=([PlotCallback()] if training_args.plot else []) + [stop] + list(callbacks),
        save_mode=save_mode,
        base_spec=base_spec,
        run_extra={**input_format_record(conv_template=data_args.conv_template, model_config=model.config,
                                         image_aspect_ratio=data_args.image_aspect_ratio,
                                         model_max_length=training_args.model_max_length),
                   "peft": model_args.peft},  # what eval follows (llava.model.input_format)
    )
    if resume:
        logger.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    if stop.stopped:  # checkpoint-N is saved; the run is not finished, so no final model
        logger.warning("stopped at step %d (%s): %s/checkpoint-%d holds the run; the same command continues it",
                       stop.stopped_at, stop.stopped, training_args.output_dir, stop.stopped_at)
        raise SystemExit(STOPPED_EXIT_CODE)
    trainer.save_state()
    trainer.save_model(training_args.output_dir)
    finish_data_report(dataset, data_report, training_args.output_dir, trainer.is_world_process_zero())
    return trainer


if __name__ == "__main__":
    # OSError: a model or data path that does not load; --debug is TrainingArguments', so LLAVA_DEBUG=1 here
    run_entry(main, OSError, debug_flag=False)
