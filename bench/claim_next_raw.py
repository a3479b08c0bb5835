"""The raw-SQL baseline: caseflow's own claim-next statement, run by pgbench clients.

The statement is the one :meth:`caseflow.work.WorkService.claim_next` sends on
PostgreSQL (grant check, SKIP LOCKED pick, item delete, task update, history insert, in
one statement), rendered as text for pgbench: client ``n`` acts as user ``w<n>``, the
history id is ``gen_random_uuid()``, ``now`` is the server's.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from caseflow.work.sql import render_claim_next


def claim_sql() -> str:
    """The claim-next statement as the service prepares it, with pgbench variables."""
    return render_claim_next(variables={
        "tid": "'default'",
        "now": "now()",
        "actor": "('w' || :client_id)",
        "hid": "gen_random_uuid()::text",
    })


@dataclass
class RawResult:
    clients: int
    claims: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    command: str
    error: str | None = None

    @property
    def per_second(self) -> float:
        return self.claims / self.seconds if self.seconds else 0.0


def run_pgbench(url: str, clients: int, seconds: float) -> RawResult:
    """``clients`` pgbench clients running only the claim statement for ``seconds``."""
    binary = shutil.which("pgbench")
    duration = max(1, math.ceil(seconds))
    parsed = make_url(url)
    threads = min(clients, 2)
    command = (
        f"pgbench -n -M prepared -c {clients} -j {threads} -T {duration} -l "
        f"-f claim_next.sql {parsed.database}"
    )
    if binary is None:
        return RawResult(clients, 0, 0.0, None, None, command, "pgbench not found on PATH")
    args = [binary]
    if parsed.host:
        args += ["-h", parsed.host]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    if parsed.username:
        args += ["-U", parsed.username]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "claim_next.sql"
        script.write_text(claim_sql() + ";\n")
        args += [
            "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads),
            "-T", str(duration), "-l", "-f", str(script), str(parsed.database),
        ]
        run = subprocess.run(
            args, cwd=tmp, capture_output=True, text=True, timeout=duration + 120, check=False
        )
        if run.returncode != 0:
            detail = (run.stderr or run.stdout).strip().splitlines()
            return RawResult(clients, 0, 0.0, None, None, command,
                             detail[-1] if detail else "pgbench failed")
        found = re.search(r"number of transactions actually processed: (\d+)", run.stdout)
        claims = int(found.group(1)) if found else 0
        latencies = []
        for log in Path(tmp).glob("pgbench_log.*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000.0)  # microseconds -> ms
    latencies.sort()
    return RawResult(
        clients,
        claims,
        float(duration),
        statistics.median(latencies) if latencies else None,
        latencies[int(len(latencies) * 0.99)] if latencies else None,
        command,
    )
