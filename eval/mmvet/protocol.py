"""The grading prompt: MM-Vet's own, read from the user's copy of mm-vet_evaluator.py, or the project's.

MM-Vet's evaluator keeps its prompt (instructions and few-shot rows) in a module-level string
`prompt`, and sends the judge `prompt + "\\n" + " | ".join([question, answer, prediction, ""])`;
a retry adds a short instruction after that row. Both strings are taken from the evaluator's
source with `ast`, without running it, so the project ships none of MM-Vet's text.
"""
import ast
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from eval.errors import EvalInputError
from eval.mmvet.prompt import PROJECT_PROMPT, PROJECT_RETRY_SUFFIX

ENV_VAR = "MMVET_EVALUATOR"
ROW_SEPARATOR = " | "


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def item_row(question: str, ground_truth: str, prediction: str) -> str:
    """The item's table row as MM-Vet writes it: <AND>/<OR> padded with spaces, last cell empty."""
    truth = ground_truth.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return ROW_SEPARATOR.join([question, truth, prediction, ""])


@dataclass(frozen=True)
class Protocol:
    prompt: str
    retry_suffix: str
    source: str               # "official" or "project"
    path: str | None = None   # the evaluator file the prompt came from
    file_sha256: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies the text sent to the judge, so cached grades under another prompt are not reused."""
        return _sha256((self.prompt + "\0" + self.retry_suffix).encode("utf-8"))[:16]

    def message(self, question: str, ground_truth: str, prediction: str) -> str:
        return self.prompt + "\n" + item_row(question, ground_truth, prediction)

    def retry_message(self, question: str, ground_truth: str, prediction: str) -> str:
        return self.message(question, ground_truth, prediction) + self.retry_suffix

    def describe(self) -> dict:
        """What the summary records about the prompt."""
        info = {"source": self.source, "prompt_sha256": _sha256(self.prompt.encode("utf-8")),
                "comparable_with_published": self.source == "official"}
        if self.path:
            info.update(path=self.path, file_sha256=self.file_sha256)
        return info


def _is_row_join(node: ast.AST) -> bool:
    """True for `<sep>.join([...])` with the row separator, anywhere inside `node`."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "join"
               and isinstance(n.func.value, ast.Constant) and n.func.value.value == ROW_SEPARATOR
               for n in ast.walk(node))


def _string(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def read_official(path: str | Path) -> Protocol:
    """Extract `prompt` and the retry suffix from mm-vet_evaluator.py's source (never executed)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvalInputError(f"{path}: MM-Vet evaluator not found") from None
    try:
        tree = ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError) as e:
        raise EvalInputError(f"{path}: not a Python file MM-Vet's evaluator could be ({e})") from None
    prompts = [_string(node.value) for node in tree.body if isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "prompt" for t in node.targets)]
    prompts = [p for p in prompts if p]
    if len(prompts) != 1:
        raise EvalInputError(f"{path}: expected one module-level string `prompt` (the grading prompt of "
                             f"MM-Vet's mm-vet_evaluator.py), found {len(prompts)}")
    # The retry request is `<prompt> + "\n" + " | ".join([...]) + <suffix>`: the suffix is the string
    # added right after a row join.
    suffixes = {_string(n.right) for n in ast.walk(tree)
                if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add) and _string(n.right)
                and _is_row_join(n.left)}
    if len(suffixes) != 1:
        raise EvalInputError(f"{path}: expected one retry instruction appended after the item row, found "
                             f"{len(suffixes)} (is this MM-Vet's mm-vet_evaluator.py?)")
    return Protocol(prompts[0], suffixes.pop(), "official", str(path), _sha256(data))


def project_protocol() -> Protocol:
    return Protocol(PROJECT_PROMPT, PROJECT_RETRY_SUFFIX, "project")


def resolve_protocol(evaluator: str | None) -> Protocol:
    """--official-evaluator, else $MMVET_EVALUATOR, else the project's prompt (with a warning)."""
    path = evaluator or os.environ.get(ENV_VAR)
    if path:
        return read_official(path)
    print(f"warning: no MM-Vet evaluator given (--official-evaluator or ${ENV_VAR} naming MM-Vet's "
          "mm-vet_evaluator.py): grading with the project's own prompt. These scores are NOT "
          "comparable with published MM-Vet numbers.", file=sys.stderr)
    return project_protocol()
