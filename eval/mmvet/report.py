"""Files the MM-Vet grader writes into --out-dir."""
import csv
from pathlib import Path

from eval.files import write_json
from eval.mmvet.data import MMVetItem
from eval.mmvet.scores import markdown_table, official_tables


def _write_csv(path: Path, row_name: str, columns: list[str], values: list) -> None:
    """One row in the layout of the evaluator's cap-score / cap-int-score CSVs."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([""] + columns)
        writer.writerow([row_name] + values)


def write_reports(out_dir: Path, judge: str, prompt: dict, model: str, items: dict[str, MMVetItem],
                  results: dict[str, str], run_scores: list[dict[str, float]], decimals: int) -> dict:
    """Write per_question.json, capability_scores.{json,md}, cap_score.csv and cap_int_score.csv.

    Returns the score document (see scores.official_tables).
    """
    tables = official_tables(run_scores, items, decimals)
    per_question = {
        q: {"question": it.question, "answer": it.answer, "prediction": results.get(q),
            "capability": list(it.capabilities), "scores": [s[q] for s in run_scores]}
        for q, it in items.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "per_question.json", per_question)
    write_json(out_dir / "capability_scores.json", {"judge": judge, "prompt": prompt, **tables})

    caps = list(tables["capabilities"])
    runs_cell = str(tables["runs"])
    _write_csv(out_dir / "cap_score.csv", model, caps + ["total", "std", "runs"],
               [tables["capabilities"][c] for c in caps] + [tables["total"], tables["std"], runs_cell])
    names = list(tables["capability_integration"])
    _write_csv(out_dir / "cap_int_score.csv", model, names + ["total", "std", "runs"],
               [tables["capability_integration"][n]["score"] for n in names]
               + [tables["total"], tables["std"], runs_cell])

    columns = caps + ["total"]
    rows = [[f"run {i}"] + [run[c] for c in columns] for i, run in enumerate(tables["per_run"])]
    rows.append(["mean"] + [tables["capabilities"].get(c, tables["total"]) for c in columns])
    combos = [[k, v["count"], v["score"]] for k, v in tables["capability_integration"].items()]
    warning = "" if prompt["comparable_with_published"] else \
        "**Graded with the project's own prompt: not comparable with published MM-Vet numbers.**\n\n"
    text = (f"# MM-Vet scores (judge: {judge})\n\n{warning}"
            + markdown_table([""] + columns, rows)
            + f"\nstd of the run totals: {tables['std']}\n"
            + "\n## By capability integration (mean over runs)\n\n"
            + markdown_table(["capabilities", "questions", "score"], combos))
    (out_dir / "capability_scores.md").write_text(text, encoding="utf-8")
    return tables
