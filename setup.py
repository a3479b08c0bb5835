"""The package build also builds the web app, so the wheel ships its pages (no Node.js for users).

Everything else about the package is declared in pyproject.toml. A regular (non-editable) build
runs ``npm ci && npm run build`` in ``web/`` when the built pages are missing or older than their
sources; editable installs leave that to ``make install``. ``CASEFLOW_SKIP_WEB_BUILD=1`` builds a
package without pages (the server then says how to build them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
WEB = ROOT / "web"
BUILT = ROOT / "src" / "caseflow" / "web" / "static" / "index.html"


def _newest_source() -> float:
    sources = [WEB / "package-lock.json", WEB / "index.html", WEB / "vite.config.ts"]
    sources += [path for path in (WEB / "src").rglob("*") if path.is_file()]
    return max(path.stat().st_mtime for path in sources if path.exists())


def build_web_app() -> None:
    if os.environ.get("CASEFLOW_SKIP_WEB_BUILD") == "1" or not (WEB / "package.json").exists():
        return
    if BUILT.exists() and BUILT.stat().st_mtime >= _newest_source():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "caseflow: building the web app needs Node.js 20+ and npm "
            "(or set CASEFLOW_SKIP_WEB_BUILD=1 to build without the pages)"
        )
    installed = WEB / "node_modules" / ".package-lock.json"  # npm writes it on every install
    lock = WEB / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)  # noqa: S603
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)  # noqa: S603


class BuildPyWithWebApp(build_py):
    def run(self) -> None:
        if not getattr(self, "editable_mode", False):
            build_web_app()
            self.__dict__.pop("data_files", None)  # list the freshly built files
        super().run()


setup(cmdclass={"build_py": BuildPyWithWebApp})
