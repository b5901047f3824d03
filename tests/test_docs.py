"""The README documents every command and the exit codes; CI runs the README's test command."""

import re
from pathlib import Path

import pytest

from forecaster.cli import app
from forecaster.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = [command.name or command.callback.__name__ for command in app.registered_commands]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_a_readme_section(cli, command):
    result = cli(command, "--help")
    assert result.code == 0
    assert f"Usage: forecast {command}" in result.out
    assert len(result.out.splitlines()) > 4
    assert f"### `forecast {command}" in README


def test_every_exit_code_is_documented():
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", README, re.MULTILINE), code


def test_ci_runs_the_readme_test_command():
    install, run_tests = 'pip install -e ".[test]"', "python -m pytest -q"
    assert f"{install} && {run_tests}" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert '-e ".[test]"' in ci and run_tests in ci


def test_version(cli):
    from forecaster import __version__

    assert (cli("--version").code, cli("--version").out) == (0, f"forecast {__version__}\n")
