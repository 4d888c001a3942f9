"""Writers for the tiny fabricated answer / ground-truth files the eval tests use."""
import json


def write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return str(path)


def write_answers(path, answers: dict, prompts: dict | None = None):
    """A model_vqa answers jsonl: {question_id: text} (prompts optional, by question_id)."""
    with path.open("w", encoding="utf-8") as f:
        for i, (qid, text) in enumerate(answers.items()):
            f.write(json.dumps({"question_id": qid, "prompt": (prompts or {}).get(qid, ""),
                                "text": text, "answer_id": f"a{i}", "model_id": "tiny",
                                "metadata": {}}) + "\n")
    return str(path)


def last_json_line(captured_out: str) -> dict:
    return json.loads(captured_out.strip().splitlines()[-1])
