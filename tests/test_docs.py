"""The docs document every command (docs/commands.md) and the README the exit codes; every link between them lands;
CI runs the README's test command."""

import re
import tomllib
from pathlib import Path

import click
import pytest
import typer.main

from forecaster.cli import app
from forecaster.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}
COMMANDS = [command.name or command.callback.__name__ for command in app.registered_commands]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_a_section_in_the_docs(cli, command):
    result = cli(command, "--help")
    assert result.code == 0
    assert f"Usage: forecast {command}" in result.out
    assert len(result.out.splitlines()) > 4
    assert f"### `forecast {command}" in DOCS["commands.md"]


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


def help_records(command_name: str) -> list[tuple[click.Parameter, str]]:
    """Each argument's and option's help text, as `forecast COMMAND --help` shows it."""
    command = typer.main.get_command(app).commands[command_name]
    context = command.make_context(command_name, [], resilient_parsing=True)
    return [(param, record[1]) for param in command.get_params(context)
            if (record := param.get_help_record(context)) is not None]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_states_its_default_once(command):
    for param, text in help_records(command):
        assert text.lower().count("default") <= 1, (command, param.name, text)
        if isinstance(param, click.Option) and not param.is_flag and param.required is False and param.name in (
                "home", "start", "end", "until", "since", "days", "last", "format", "horizon", "epochs", "out"):
            assert "[default: " in text, (command, param.name, text)


REQUIRED = {"evaluate": ["--test-start", "2020-06-01"], "plot": ["ABC"], "import": ["x.csv"], "remove": ["ABC"]}


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_offers_a_choice_it_refuses(cli, command):
    """Every choice a --help lists passes the command's own checks (on an empty home: a missing-data error at
    most, never a usage error about the choice)."""
    for param, _ in help_records(command):
        if isinstance(param.type, click.Choice):
            for choice in param.type.choices:
                result = cli(command, *REQUIRED.get(command, []), param.opts[0], choice)
                assert result.code != 2, (command, param.opts[0], choice, result.err)


def test_the_features_help_names_every_input_of_each_feature_set(cli):
    from forecaster.model.windows import FEATURE_SETS

    text = " ".join(cli("train", "--help").out.split())
    for inputs in FEATURE_SETS.values():
        for name in inputs:
            assert name.replace("_", " ") in text, name


def test_the_readme_names_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = re.search(r"Runtime dependencies:(.*?)\.\s+[A-Z]", README, re.DOTALL).group(1)
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
        assert re.search(rf"\b{re.escape(name)}\b", listed, re.IGNORECASE), name


def test_the_readme_example_forecast_toml_is_a_valid_settings_file(cli, isolated_home):
    example = re.search(r"```toml\n(# HOME/forecast.toml\n.*?)```", DOCS["configuration.md"], re.DOTALL).group(1)
    tomllib.loads(example)
    (isolated_home / "forecast.toml").write_text(example)
    result = cli("config", "-f", "csv")
    assert result.code == 0, result.err
    assert "predict.max_model_age_days,7," in result.out and "predict.level,0.9," in result.out


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,4} (.*)$", text, re.MULTILINE)}


def test_every_link_between_the_readme_and_the_docs_lands():
    files = {"README.md": README, **{f"docs/{name}": text for name, text in DOCS.items()}}
    for name, text in files.items():
        for target, anchor in re.findall(r"\]\(([\w./-]*\.md|)(?:#([\w-]+))?\)", text):
            path = (ROOT / name).parent / target if target else ROOT / name
            assert path.resolve().is_file(), (name, target)
            if anchor:
                assert anchor in _anchors(path.read_text()), (name, target, anchor)


def test_the_readme_stays_an_introduction():
    assert len(README.splitlines()) <= 300
