"""Every command's --help prints (argparse formats help texts with %: a stray one crashed it)."""

from __future__ import annotations

import pytest

from gateway.cli import main

COMMANDS = ["serve", "demo-traffic", "route", "costs", "logs", "check", "experiments", "eval"]


@pytest.mark.parametrize("argv", [["--help"], *([c, "--help"] for c in COMMANDS)],
                         ids=lambda a: " ".join(a))
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gateway")
    if argv == ["--help"]:
        assert all(c in out for c in COMMANDS)
