"""MM-Vet ground truth (mm-vet.json) and result files ({"v1_<n>": answer})."""
from dataclasses import dataclass
from pathlib import Path

from eval.errors import EvalInputError
from eval.files import read_json, require_fields

# The six capabilities of the real set, in the order MM-Vet reports them.
CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")


@dataclass(frozen=True)
class MMVetItem:
    question: str
    answer: str                    # may hold "<AND>" / "<OR>" between parts
    capabilities: tuple[str, ...]
    imagename: str = ""


def load_ground_truth(path: str | Path) -> dict[str, MMVetItem]:
    """{"v1_<n>": item} in file order; every record needs question, answer, capability."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not doc:
        raise EvalInputError(f"{path}: expected a non-empty object mapping question id -> record")
    items = {}
    for qid, rec in doc.items():
        where = f"{path}: question {qid}"
        if not isinstance(rec, dict):
            raise EvalInputError(f"{where}: expected an object")
        require_fields(rec, ("question", "answer", "capability"), where)
        caps = rec["capability"]
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
            raise EvalInputError(f"{where}: 'capability' must be a non-empty list of tags")
        items[qid] = MMVetItem(str(rec["question"]), str(rec["answer"]), tuple(caps),
                               str(rec.get("imagename", "")))
    return items


def load_results(path: str | Path) -> dict[str, str]:
    """{"v1_<n>": answer text}; a non-string answer is an error."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise EvalInputError(f"{path}: expected an object mapping question id -> answer")
    for qid, text in doc.items():
        if not isinstance(text, str):
            raise EvalInputError(f"{path}: question {qid}: answer is not a string")
    return doc


def capability_order(items: dict[str, MMVetItem]) -> list[str]:
    """The tags used by the set: the six known ones first (in MM-Vet order), then any others."""
    used = {c for item in items.values() for c in item.capabilities}
    return [c for c in CAPABILITIES if c in used] + sorted(used - set(CAPABILITIES))
