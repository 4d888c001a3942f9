"""Files the MM-Vet grader writes into --out-dir."""
from pathlib import Path

from eval.files import write_json
from eval.mmvet.data import MMVetItem
from eval.mmvet.scores import (capability_scores, combination_scores, markdown_table,
                               summarize_runs)


def write_reports(out_dir: Path, judge: str, items: dict[str, MMVetItem], results: dict[str, str],
                  run_scores: list[dict[str, float]]) -> dict:
    """Write per_question.json, capability_scores.json and capability_scores.md.

    Returns the capability-table document (runs, mean, std, combinations).
    """
    runs = [capability_scores(scores, items) for scores in run_scores]
    mean, std = summarize_runs(runs)
    mean_scores = {q: sum(s[q] for s in run_scores) / len(run_scores) for q in items}
    tables = {"judge": judge, "runs": runs, "mean": mean, "std": std,
              "combinations": combination_scores(mean_scores, items)}
    per_question = {
        q: {"question": it.question, "answer": it.answer, "prediction": results.get(q),
            "capability": list(it.capabilities), "scores": [s[q] for s in run_scores],
            "mean": round(mean_scores[q], 4)}
        for q, it in items.items()}
    write_json(out_dir / "per_question.json", per_question)
    write_json(out_dir / "capability_scores.json", tables)

    columns = list(mean)
    rows = [[f"run {i}"] + [t[c] for c in columns] for i, t in enumerate(runs)]
    rows.append(["mean ± std"] + [f"{mean[c]} ± {std[c]}" for c in columns])
    combos = [[k, v["count"], v["score"]] for k, v in tables["combinations"].items()]
    text = (f"# MM-Vet scores (judge: {judge})\n\n" + markdown_table([""] + columns, rows)
            + "\n## By capability combination (mean over runs)\n\n"
            + markdown_table(["capabilities", "questions", "score"], combos))
    (out_dir / "capability_scores.md").write_text(text, encoding="utf-8")
    return tables
