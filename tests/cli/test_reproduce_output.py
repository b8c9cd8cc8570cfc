"""The results files of ``spikebit reproduce``: JSON plus a markdown twin."""

import json

from spikebit.reproduce import markdown_table, register_experiment, run_experiment, write_markdown


@register_experiment("test-pipes", "a table whose cells hold '|'")
def _pipes(budget, work_dir):
    return {"rows": [{"setting": "bound |g|", "acc": 91.234, "share": 0.01234, "x": None}],
            "columns": ["setting", "acc", "share", "x"], "note": "n."}


def test_markdown_table_formats_and_escapes_pipes():
    table = markdown_table([{"a": "x|y", "b": 12.345, "c": 0.5, "d": None}], ["a", "b", "c", "d"])
    assert table.splitlines() == ["| a | b | c | d |", "|---|---|---|---|",
                                  "| x\\|y | 12.35 | 0.5000 |  |"]


def test_run_experiment_writes_json_and_the_same_markdown_again(tmp_path):
    path = run_experiment("test-pipes", budget="smoke", out_dir=tmp_path)
    result = json.loads(path.read_text())
    assert result["experiment"] == "test-pipes" and result["budget"] == "smoke"
    md = (tmp_path / "test-pipes.md").read_text()
    assert md.startswith("# test-pipes\n\na table") and "| bound \\|g\\| | 91.23 |" in md
    write_markdown(result, tmp_path / "again.md")
    assert (tmp_path / "again.md").read_text() == md
