""".env.example: generated from `SETTINGS`, committed, and a valid configuration as it stands.

A deployer copies it to `.env`; it must list every variable the code reads, at the defaults the
code uses, and stay in step with common/settings.py (regenerate with `make schemas`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common import env_example
from common.settings import SETTINGS, Settings, read_dotenv
from fleetstream.cli import main

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / ".env.example"


def test_committed_env_example_matches_the_settings() -> None:
    assert COMMITTED.read_text() == env_example.render(), (
        ".env.example is out of date with common/settings.py: run `make schemas` "
        "(fleetstream schemas env-example > .env.example) and commit the result")


def test_every_setting_is_listed_once_with_its_meaning() -> None:
    text = env_example.render()
    for setting in SETTINGS:
        assert text.count(f"{setting.env}=") == 1, setting.env
        assert setting.doc in text, setting.env


def test_uncommenting_every_setting_gives_the_default_configuration(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    lines = env_example.render().splitlines()
    declared = {s.env for s in SETTINGS}
    dotenv.write_text("\n".join(line.removeprefix("# ") if line.removeprefix("# ")
                                .split("=", 1)[0] in declared else line for line in lines))
    assert set(read_dotenv(dotenv)) == declared
    assert Settings.load({}, dotenv=dotenv) == Settings.load({}, dotenv=None)


def test_secrets_are_marked_and_have_no_value() -> None:
    text = env_example.render()
    for setting in SETTINGS:
        if setting.secret:
            assert f"# {setting.env}=\n" in text
            entry = text[:text.index(f"# {setting.env}=")].rsplit("\n\n", 1)[-1]
            assert "Secret" in entry, setting.env


def test_command_prints_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "env-example"]) == 0
    assert capsys.readouterr().out == env_example.render()
