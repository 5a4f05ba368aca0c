import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import intents.cli as cli
from intents.cli import run_classify

ROOT = Path(__file__).resolve().parents[2]
RUNNER = (
    "import argparse, sys; import intents.cli as c; p = argparse.ArgumentParser(prog='linli'); "
    "s = p.add_subparsers(dest='command'); c.register(s); a = p.parse_args(); sys.exit(a.func(a))"
)


def parse(argv):
    p = argparse.ArgumentParser(prog="linli")
    cli.register(p.add_subparsers(dest="command"))
    return p.parse_args(argv)


def linli(*argv, stdin=""):
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *argv], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_classify_contract(classifier):
    lines = [
        json.dumps({"id": "a", "text": "3号楼2单元楼道灯坏了"}, ensure_ascii=False),
        "{not json",
        json.dumps({"text": "没有id"}, ensure_ascii=False),
        "",
        json.dumps({"id": 7, "text": "收到", "extra": 1}, ensure_ascii=False),
    ]
    out = io.StringIO()
    code = run_classify(classifier, [x + "\n" for x in lines], out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert code == 1
    assert rows[0]["id"] == "a" and rows[0]["intent"] == "lighting"
    assert {"id", "intent", "confidence", "building", "unit", "room", "urgent", "why"} <= set(rows[0])
    assert (rows[0]["building"], rows[0]["unit"], rows[0]["room"]) == ("3", "2", None)
    assert rows[1]["line"] == 2 and "error" in rows[1]
    assert rows[2]["line"] == 3 and "id" in rows[2]["error"]
    assert rows[3]["id"] == 7 and rows[3]["intent"] == "none"
    assert len(rows) == 4


def test_classify_all_good_exits_zero(classifier):
    out = io.StringIO()
    assert run_classify(classifier, ['{"id": 1, "text": "电梯坏了"}\n'], out) == 0


def test_register_sets_func():
    for argv in (["classify"], ["eval", "x.jsonl"], ["explain", "电梯坏了"], ["intents", "check"]):
        assert callable(parse(argv).func)
    assert parse(["eval", "x.jsonl", "--html", "o.html", "--intents", "d"]).html == Path("o.html")


def test_explain(capsys):
    assert cli.cmd_explain(parse(["explain", "@物业 電題又壞了"])) == 0
    out = capsys.readouterr().out
    assert "电梯又坏了" in out and "1. elevator" in out and "3. " in out


def test_eval_and_html(tmp_path, capsys, data_dir):
    html = tmp_path / "report.html"
    assert cli.cmd_eval(parse(["eval", str(data_dir / "challenge.jsonl"), "--html", str(html)])) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "none -> ticket" in out and "urgent precision" in out and "location" in out
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Confusion matrix" in page and "hsla(" in page


def test_intents_check_ok(capsys):
    assert cli.cmd_intents_check(parse(["intents", "check"])) == 0
    assert "ok: 21 intents" in capsys.readouterr().out


def test_intents_check_reports_file_line(intents_copy, capsys):
    (intents_copy / "gas.yaml").write_text(
        (intents_copy / "gas.yaml").read_text(encoding="utf-8").replace("route: grid_worker", "route: nobody"),
        encoding="utf-8",
    )
    assert cli.cmd_intents_check(parse(["intents", "check", "--intents", str(intents_copy)])) == 1
    out = capsys.readouterr().out
    assert f"{intents_copy / 'gas.yaml'}:4:" in out


def test_intents_check_warns_of_a_training_message_with_two_labels(intents_copy, capsys):
    # "谢谢物业，楼道灯今天就修好了" is an example of none; a training file says it is lighting
    with open(intents_copy / "data" / "extra.jsonl", "w", encoding="utf-8") as f:
        f.write('{"text": "楼道灯坏了", "intent": "lighting"}\n')
        f.write('{"text": "谢谢物业，楼道灯今天就修好了", "intent": "lighting"}\n')
    assert cli.cmd_intents_check(parse(["intents", "check", "--intents", str(intents_copy)])) == 0
    out = capsys.readouterr().out
    assert f"{intents_copy / 'data' / 'extra.jsonl'}:2: training message labelled 'lighting' is 'none' at" in out
    assert "none.yaml:" in out


def test_intents_check_warns_of_two_training_lines_that_disagree(intents_copy, capsys):
    with open(intents_copy / "data" / "extra.jsonl", "w", encoding="utf-8") as f:
        f.write('{"text": "楼下的狗一直叫", "intent": "pets"}\n{"text": "楼下的狗一直叫", "intent": "noise"}\n')
    assert cli.cmd_intents_check(parse(["intents", "check", "--intents", str(intents_copy)])) == 0
    out = capsys.readouterr().out
    assert f"{intents_copy / 'data' / 'extra.jsonl'}:2: training message labelled 'noise' is 'pets' at" in out
    assert "extra.jsonl:1" in out


@pytest.mark.parametrize("argv", [["classify"]])
def test_classify_subprocess_stdin(argv):
    r = linli(*argv, stdin='{"id": "x", "text": "燃气味特别大，快来人"}\nbroken\n')
    assert r.returncode == 1
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert rows[0]["intent"] == "gas" and rows[0]["urgent"] is True
    assert rows[1] == {"line": 2, "error": rows[1]["error"]}


def test_answers_contract_one_line_per_input_and_bad_lines_reported():
    lines = [
        json.dumps({"id": "a", "text": "亮了亮了谢谢", "intent": "lighting"}, ensure_ascii=False),
        json.dumps({"id": "b", "text": "修了个寂寞"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "c", "text": "收到", "intent": None}, ensure_ascii=False),
        json.dumps({"id": "d", "text": 5}, ensure_ascii=False),
    ]
    done = linli("answers", stdin="\n".join(lines) + "\n")
    assert done.returncode == 1  # a bad line makes the exit code 1, the good ones are still read
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(o.get("id"), o.get("answer")) for o in out if "id" in o] == [("a", "fixed"), ("b", "not_fixed"), ("c", "unclear")]
    assert [o["line"] for o in out if "error" in o] == [3, 5]
    assert all(o["why"] for o in out if "id" in o)


def test_answers_report_gives_accuracy_false_closes_and_the_confusion_matrix(tmp_path):
    f = tmp_path / "labelled.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": 1, "text": "好了", "answer": "fixed"},
        {"id": 2, "text": "还是不亮", "answer": "not_fixed"},
        {"id": 3, "text": "好的", "answer": "unclear"},
        {"id": 4, "text": "好了", "answer": "not_fixed"},  # a deliberately wrong label: one false close
    ]) + "\n", encoding="utf-8")
    done = linli("answers", "--report", str(f))
    assert done.returncode == 0
    assert "accuracy 0.750" in done.stderr and "false close (not_fixed → fixed) 50.0%" in done.stderr
    assert "label \\ read" in done.stderr
