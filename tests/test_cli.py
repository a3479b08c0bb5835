"""The command line, run as a user runs it, against a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from caseflow.cli import app, parse_vars
from tests.bpmn import chain, process

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"

DOC = process(
    """
    <startEvent id="s"/><userTask id="review" name="Review" camunda:candidateGroups="clerks"/>
    <serviceTask id="notify" camunda:type="external" camunda:topic="notify"/>
    <receiveTask id="wait" messageRef="m"/><endEvent id="e"/>
    """
    + chain("s", "review", "notify", "wait", "e"),
    id="permit",
    roots='<message id="m" name="Paid"/>',
)


@pytest.fixture
def cli(tmp_path: Path) -> tuple[CliRunner, list[str]]:
    return CliRunner(), ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]


def run(cli: tuple[CliRunner, list[str]], *args: str, code: int = 0) -> str:
    runner, db = cli
    result = runner.invoke(app, [*args, *db] if args[0] not in ("validate",) else list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_a_case_from_deploy_to_end(cli: tuple[CliRunner, list[str]], tmp_path: Path) -> None:
    bpmn = tmp_path / "permit.bpmn"
    bpmn.write_text(DOC, encoding="utf-8")
    assert "deployed permit version 1" in run(cli, "deploy", str(bpmn))
    assert "unchanged permit version 1" in run(cli, "deploy", str(bpmn))
    started = json.loads(
        run(
            cli,
            "start",
            "permit",
            "-b",
            "HS-9",
            "--var",
            "amount=12.50",
            "--var",
            "name=Lan",
            "--json",
        )
    )
    instance_id = started["instance"]["id"]
    assert started["variables"] == {"amount": "12.50", "name": "Lan"}
    [task] = json.loads(run(cli, "tasks", "--group", "clerks", "--json"))
    assert task["name"] == "Review"
    assert "Review" in run(cli, "tasks")
    run(cli, "complete", task["id"], "--var", "approved=true")
    [locked] = json.loads(run(cli, "external", "fetch", "--topic", "notify", "--json"))
    run(cli, "external", "complete", locked["task"]["id"])
    assert "delivered to" in run(cli, "message", "Paid", "-b", "HS-9")
    shown = run(cli, "show", instance_id)
    assert "COMPLETED" in shown
    assert "approved = true" in shown
    listed = json.loads(run(cli, "instances", "--json"))
    assert [i["status"] for i in listed] == ["COMPLETED"]


def test_refusals_exit_non_zero_with_a_message(cli: tuple[CliRunner, list[str]]) -> None:
    assert "not found" in run(cli, "start", "nope", code=1)
    assert "not found" in run(cli, "complete", "no-such-task", code=1)


def test_validate_reports_problems_with_lines(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.bpmn"
    bad.write_text(
        process(
            '<startEvent id="s"/><exclusiveGateway id="g"/>'
            '<endEvent id="a"/><endEvent id="b"/>'
            + chain("s", "g")
            + chain("g", "a")
            + chain("g", "b")
        )
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "invalid" in result.output and "g" in result.output
    hostile = tmp_path / "hostile.bpmn"
    hostile.write_text(
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<definitions>&x;</definitions>"
    )
    result = runner.invoke(app, ["validate", str(hostile)])
    assert result.exit_code == 1
    assert "cannot be read" in result.output


@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpora is not beside the checkout")
def test_validate_reads_a_real_camunda_export() -> None:
    files = sorted((CORPUS / "bpmn-miwg-test-suite").glob("Camunda*/A.1.0-export.bpmn"))
    assert files, "no Camunda export in the corpus"
    result = CliRunner().invoke(app, ["validate", str(files[0]), "--json"])
    report = json.loads(result.output)
    assert report["file"].endswith("A.1.0-export.bpmn")
    assert isinstance(report["problems"], list)


def test_parse_vars_reads_json_and_falls_back_to_text() -> None:
    from decimal import Decimal

    assert parse_vars(["a=1", "b=true", "c=hello", 'd={"x": [1]}', "e=1.10", "f="]) == {
        "a": 1,
        "b": True,
        "c": "hello",
        "d": {"x": [1]},
        "e": Decimal("1.10"),
        "f": "",
    }


def test_signal_reaches_waiting_instances(cli: tuple[CliRunner, list[str]], tmp_path: Path) -> None:
    bpmn = tmp_path / "wait.bpmn"
    bpmn.write_text(
        process(
            '<startEvent id="s"/><intermediateCatchEvent id="c"><signalEventDefinition '
            'signalRef="sig"/></intermediateCatchEvent><endEvent id="e"/>' + chain("s", "c", "e"),
            id="waiter",
            roots='<signal id="sig" name="Closed"/>',
        ),
        encoding="utf-8",
    )
    run(cli, "deploy", str(bpmn))
    run(cli, "start", "waiter")
    assert "reached 1 receiver" in run(cli, "signal", "Closed")
    assert "reached 0 receiver" in run(cli, "signal", "Closed")


def test_a_message_with_a_ttl_is_kept_until_its_receiver_starts(
    cli: tuple[CliRunner, list[str]], tmp_path: Path
) -> None:
    bpmn = tmp_path / "paid.bpmn"
    bpmn.write_text(
        process(
            '<startEvent id="s"/><receiveTask id="wait" messageRef="m"/><endEvent id="e"/>'
            + chain("s", "wait", "e"),
            roots='<message id="m" name="paid"/>',
        )
    )
    run(cli, "deploy", str(bpmn))
    assert "no process instance waits" in run(cli, "message", "paid", "-b", "HS-1", code=1)
    kept = run(cli, "message", "paid", "-b", "HS-1", "--ttl", "PT1H", "--var", "amount=5")
    assert "kept as" in kept
    started = run(cli, "start", "p", "--business-key", "HS-1", "--json")
    assert json.loads(started)["instance"]["status"] == "COMPLETED"
    assert "ISO 8601" in run(cli, "message", "paid", "--ttl", "soon", code=1)
    assert "months" in run(cli, "message", "paid", "--ttl", "P1M", code=1)
