"""The README's "From Python" section: its install command names this package, and its
example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## From Python")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_install_command_is_this_package():
    bash = re.findall(r"```bash\n(.*?)```", section(), re.S)
    assert any("pip install ./crates/ibma-py" in block for block in bash)


def test_example_runs_as_written(tmp_path):
    (code,) = re.findall(r"```python\n(.*?)```", section(), re.S)
    assert len(code.strip().splitlines()) == 5
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(4,", "4,", "4)", "float32"]
