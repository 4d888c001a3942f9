"""Grade MM-Vet results with an LLM judge (or, with no endpoint, an offline rule).

    python -m eval.mmvet.grade --gt mm-vet.json --results results.json --out-dir DIR \
        --official-evaluator MM-Vet/mm-vet_evaluator.py [--judge-model gpt-4-0613] [--num-runs N] \
        [--base-url URL] [--cache FILE] [--allow-missing]

MM-Vet's protocol: its prompt (read from the user's mm-vet_evaluator.py, or $MMVET_EVALUATOR),
its item row, retry schedule and temperatures, score parsing, capability and capability-
integration scores, mean and std over runs. Without the evaluator file the project's own
prompt is used and the summary says the score is not comparable with published numbers.
The endpoint is --base-url or $OPENAI_BASE_URL, the key $OPENAI_API_KEY. Every grade is
appended to the cache as it arrives; rerunning the same command resumes without regrading.
"""
import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from eval.cli import run_cli
from eval.errors import JudgeError
from eval.files import check_coverage
from eval.mmvet.cache import GradeCache, content_hash
from eval.mmvet.data import load_ground_truth, load_results
from eval.mmvet.judge import ChatJudge, OfflineJudge
from eval.mmvet.protocol import ENV_VAR, read_official, resolve_protocol
from eval.mmvet.report import write_reports
from eval.mmvet.retry import BackoffPolicy

PLACEHOLDER_KEY = "EMPTY"  # local OpenAI-compatible servers accept any key
OFFLINE_PROMPT = {"source": "offline-rule-based", "comparable_with_published": False}


def make_judge(args: argparse.Namespace) -> tuple[object, dict, str]:
    """(judge, what the summary records about its prompt, the prompt's cache fingerprint)."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = os.environ.get("OPENAI_API_KEY")
    if not base_url and not api_key:
        if args.official_evaluator or os.environ.get(ENV_VAR):
            read_official(args.official_evaluator or os.environ[ENV_VAR])   # still say if it is unusable
        print("No judge endpoint configured (no --base-url / OPENAI_BASE_URL and no OPENAI_API_KEY): "
              "grading with the OFFLINE RULE-BASED judge. Its scores are NOT comparable with "
              "published (GPT-4-graded) MM-Vet numbers.", file=sys.stderr)
        return OfflineJudge(), OFFLINE_PROMPT, ""
    protocol = resolve_protocol(args.official_evaluator)
    from openai import OpenAI  # only needed when a judge endpoint exists
    client = OpenAI(base_url=base_url or None, api_key=api_key or PLACEHOLDER_KEY,
                    timeout=args.timeout, max_retries=0)
    policy = BackoffPolicy(max_retries=args.max_retries, initial_delay=args.backoff_initial,
                           max_delay=args.backoff_max)
    return ChatJudge(client, args.judge_model, policy, protocol), protocol.describe(), protocol.fingerprint


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.mmvet.grade",
        description="Grade MM-Vet results 0..1 per question with an LLM judge; report capability "
                    "scores (x100), the total, and mean/std over --num-runs.")
    p.add_argument("--gt", required=True, help="MM-Vet ground truth mm-vet.json")
    p.add_argument("--official-evaluator", metavar="PATH",
                   help=f"MM-Vet's mm-vet_evaluator.py (default: ${ENV_VAR}); its grading prompt is read "
                        "from the source, not executed. Without it the project's own prompt is used and "
                        "the score is not comparable with published MM-Vet numbers")
    p.add_argument("--results", required=True, help='results json {"v1_<n>": answer}')
    p.add_argument("--out-dir", required=True, help="folder for per-question scores and tables")
    p.add_argument("--judge-model", default="gpt-4-0613", help="judge model name (default: %(default)s)")
    p.add_argument("--num-runs", type=_positive_int, default=1,
                   help="independent gradings, each cached separately (default: 1)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    p.add_argument("--cache", help="grade cache jsonl (default: OUT_DIR/grade_cache.jsonl)")
    p.add_argument("--allow-missing", action="store_true",
                   help="grade unanswered questions 0 with a warning (default: error listing them)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per judge request")
    p.add_argument("--max-retries", type=int, default=6,
                   help="retries of a request after a network error, timeout, 429 or 5xx")
    p.add_argument("--backoff-initial", type=float, default=2.0,
                   help="seconds before the first retry; doubles each retry")
    p.add_argument("--backoff-max", type=float, default=60.0, help="longest wait between retries")
    p.add_argument("--decimal-places", type=int, default=1,
                   help="rounding of the reported scores, as MM-Vet's evaluator (default: 1)")
    return p


def grade_runs(judge, items, results, cache: GradeCache, num_runs: int,
               fingerprint: str) -> tuple[list[dict], dict]:
    """Scores per run ({qid: score}) and counters; unanswered questions score 0 uncalled."""
    counts = {"graded": 0, "cached": 0, "format_failures": 0, "network_retries": 0}
    run_scores = []
    with tqdm(total=num_runs * len(items), desc="mm-vet grading", unit="q") as bar:
        for run in range(num_runs):
            scores = {}
            for qid, item in items.items():
                bar.update()
                if qid not in results:
                    scores[qid] = 0.0
                    continue
                digest = content_hash(results[qid], item.answer, fingerprint)
                entry = cache.get(qid, judge.name, run, digest)
                if entry is None:
                    grade = judge.grade(item.question, item.answer, results[qid])
                    entry = {"id": qid, "judge": judge.name, "run": run, "hash": digest,
                             "score": grade.score, "tries": grade.tries, "failed": grade.failed,
                             "reply": grade.reply}
                    cache.add(entry)
                    counts["graded"] += 1
                    counts["network_retries"] += grade.network_retries
                else:
                    counts["cached"] += 1
                counts["format_failures"] += entry["failed"]
                scores[qid] = entry["score"]
            run_scores.append(scores)
    return run_scores, counts


def score(args: argparse.Namespace) -> dict:
    items = load_ground_truth(args.gt)
    results = load_results(args.results)
    missing = check_coverage(results, items, args.results, args.allow_missing)
    if missing:
        print(f"warning: {len(missing)} question(s) have no answer and score 0: "
              f"{', '.join(missing)}", file=sys.stderr)
    judge, prompt, fingerprint = make_judge(args)
    out_dir = Path(args.out_dir)
    with GradeCache(args.cache or out_dir / "grade_cache.jsonl") as cache:
        try:
            run_scores, counts = grade_runs(judge, items, results, cache, args.num_runs, fingerprint)
        except JudgeError as e:
            raise JudgeError(f"{e}; {len(cache)} grade(s) are saved in {cache.path}: "
                             "rerun the same command to resume") from e
    tables = write_reports(out_dir, judge.name, prompt, Path(args.results).stem, items, results,
                           run_scores, args.decimal_places)
    return {
        "benchmark": "mm-vet",
        "judge": judge.name,
        "prompt": prompt,
        "comparable_with_published": prompt["comparable_with_published"],
        "num_questions": len(items),
        "num_runs": args.num_runs,
        "totals": tables["runs"],
        "total_mean": tables["total"],
        "total_std": tables["std"],
        "capabilities": tables["capabilities"],
        "capability_integration": {k: v["score"] for k, v in tables["capability_integration"].items()},
        "num_missing": len(missing),
        **counts,
        "out_dir": str(out_dir),
    }


def main(argv: list[str] | None = None) -> dict:
    return run_cli(build_parser(), score, argv)


if __name__ == "__main__":
    main()
