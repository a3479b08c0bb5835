"""``caseflow demo``: the demo loaded into a SQLite file from the command line, once."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from caseflow.cli import app


def test_caseflow_demo_loads_once_and_lists_the_cases(tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]
    first = runner.invoke(app, ["demo", *db])
    assert first.exit_code == 0, first.output
    assert "deployed dang_ky_ho_kinh_doanh:1" in first.output
    assert "demo cases in flight" in first.output
    assert "HKD-2611-0001" in first.output and "CASE-2026-0101" in first.output
    again = runner.invoke(app, ["demo", *db])
    assert again.exit_code == 0, again.output
    assert "deployed" not in again.output and "in flight" not in again.output
    assert "HKD-2611-0001" in again.output
