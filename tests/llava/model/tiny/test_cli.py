"""python -m llava.model.tiny: an existing model is kept."""
from llava.model.tiny.cli import main


def test_cli_skips_an_existing_model(data, tiny_dir, capsys):
    stamp = (tiny_dir / "model.safetensors").stat().st_mtime_ns
    main(["--data", str(data.root), "--out", str(tiny_dir)])
    assert "already holds a model" in capsys.readouterr().out
    assert (tiny_dir / "model.safetensors").stat().st_mtime_ns == stamp
