"""What an operator meets when a setting, an id or an argument is wrong (issue 11, 2.3 2.4
2.6 2.8): exit 2 with one coded line naming the setting or the rule and the cause, never an
internal error with a trace, never an empty "(unknown)" location; and ``epoi status``
whole when piped."""

from __future__ import annotations

import warnings
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from epoi.cli import guarded, main
from epoi.config import Settings
from epoi.errors import ConfigError, EpoiError, InputError, Location

LONG_NAME = "acme_mutual_insurance_company_of_sacramento_weekly_full_file_2026-11-27_" + "9" * 40


def invoke(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def one_coded_line(err: str, code: str) -> str:
    """The message alone: one line, coded, no trace, no empty location."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"epoi: [{code}] "), err
    assert "internal error" not in err and "Traceback" not in err
    assert "(unknown)" not in err and not lines[0].endswith("()")
    return lines[0]


# -- 2.3 configuration errors ----------------------------------------------------------------


def test_an_unsupported_database_is_a_configuration_error(home: Path) -> None:
    code, _, err = invoke("status", EPOI_DATABASE_URL="mysql://x:secret@y/z")
    assert code == 2
    line = one_coded_line(err, "CONFIG")
    assert "EPOI_DATABASE_URL" in line and "'mysql' is not supported" in line
    assert "secret" not in err


def test_a_database_url_that_is_no_url_is_a_configuration_error(home: Path) -> None:
    code, _, err = invoke("status", EPOI_DATABASE_URL="notaurl")
    assert code == 2
    line = one_coded_line(err, "CONFIG")
    assert "EPOI_DATABASE_URL: not a database URL" in line


def test_a_missing_database_driver_is_a_configuration_error(home: Path) -> None:
    code, _, err = invoke("status", EPOI_DATABASE_URL="postgresql+nosuchdriver://x@y/z")
    assert code == 2
    assert "EPOI_DATABASE_URL: unknown postgresql driver 'nosuchdriver'" in (
        one_coded_line(err, "CONFIG"))


def test_a_bad_number_setting_names_the_variable_on_one_line(home: Path) -> None:
    code, _, err = invoke("status", EPOI_WORKERS="many")
    assert code == 2
    assert one_coded_line(err, "CONFIG").startswith("epoi: [CONFIG] EPOI_WORKERS: ")


def test_a_home_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    for home, cause in ((blocker, "exists and is not a directory"),
                        (blocker / "home", "Not a directory")):
        code, _, err = invoke("status", EPOI_HOME=str(home))
        assert code == 2, err
        line = one_coded_line(err, "CONFIG")
        assert f"EPOI_HOME {home}: cannot create the directory: {cause}" in line
        assert "unwritable" not in line


def test_a_bug_with_an_unusable_home_says_why_no_trace_was_written(tmp_path: Path) -> None:
    @click.command()
    @guarded
    def boom() -> None:
        raise RuntimeError("a bug")

    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = CliRunner().invoke(boom, [], obj={"settings": Settings(home=blocker)})
    assert result.exit_code == 3
    assert result.stderr.startswith("epoi: internal error ")
    assert result.stderr.rstrip().endswith(
        f"(RuntimeError); no trace written: EPOI_HOME {blocker}: cannot create the directory:"
        " exists and is not a directory")
    ok = CliRunner().invoke(boom, [], obj={"settings": Settings(home=tmp_path / "home")})
    assert ok.exit_code == 3
    assert f"trace in {tmp_path / 'home' / 'incidents.log'}" in ok.stderr
    assert "RuntimeError: a bug" in (tmp_path / "home" / "incidents.log").read_text("utf-8")


# -- 2.4 no empty location; STORE-CONNECT says why -------------------------------------------


def test_an_error_without_location_has_no_parenthesis() -> None:
    assert str(ConfigError("CONFIG", "bad")) == "[CONFIG] bad"
    assert str(Location()) == ""
    located = InputError("FILE-EMPTY", "the file is empty", Location(file="a.x12"))
    assert str(located) == "[FILE-EMPTY] the file is empty (file=a.x12)"
    assert EpoiError("X", "m").location.as_dict() == {}


def test_an_unknown_submission_is_one_line_without_location(home: Path) -> None:
    code, _, err = invoke("status", "99")
    assert code == 2
    assert one_coded_line(err, "SUBMISSION") == "epoi: [SUBMISSION] no submission 99"


def test_a_duplicate_carrier_is_one_line_without_location(home: Path) -> None:
    args = ("carriers", "add", "--name", "ACME MUTUAL", "--naic", "12345", "--isa-qualifier",
            "ZZ", "--isa-id", "ACMEINS", "--production")
    assert invoke(*args)[0] == 0
    code, _, err = invoke(*args)
    assert code == 2
    assert "already exists" in one_coded_line(err, "CARRIER")


def test_an_unreachable_server_says_connection_refused(home: Path) -> None:
    code, _, err = invoke(
        "status", EPOI_DATABASE_URL="postgresql+psycopg://postgres:secret@127.0.0.1:1/test")
    assert code == 2
    line = one_coded_line(err, "STORE-CONNECT")
    assert "Connection refused" in line
    assert "secret" not in line


def test_a_sqlite_file_that_cannot_be_opened_says_why(home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    code, _, err = invoke("status", EPOI_DATABASE_URL=f"sqlite:///{blocker}/epoi.db")
    assert code == 2
    line = one_coded_line(err, "STORE-CONNECT")
    assert line.endswith(f"unable to open database file; {blocker}: not a directory"), line


# -- 2.6 verify refuses what cannot be a VIN -------------------------------------------------


@pytest.mark.parametrize(("vin", "rule"), [
    ("NOT-A-VIN!!", "'!', 'I', 'O' not allowed: a VIN has only A-Z and 0-9, without I, O and Q"
                    " (E203)"),
    ("1HGCM82633A0043529", "18 characters: a VIN has at most 17 (exactly 17 from model year"
                           " 1981, E202)"),
    (" - ", "a VIN is not empty (E201)"),
])
def test_verify_refuses_what_cannot_be_a_vin(home: Path, vin: str, rule: str) -> None:
    code, out, err = invoke("verify", vin, "--date", "2026-11-27")
    assert code == 2 and out == ""
    line = one_coded_line(err, "VIN")
    assert line == f"epoi: [VIN] {vin!r} cannot be a VIN: {rule}"
    assert not home.exists()  # refused before any store is opened


@pytest.mark.parametrize(("vin", "shown"), [
    ("1hgcm-82633 a004352", "1HGCM82633A004352"),  # guide section 5: case, blanks, dashes
    ("AB1234", "AB1234"),  # a pre-1981 VIN is shorter than 17
])
def test_verify_still_answers_for_what_may_be_a_vin(home: Path, vin: str, shown: str) -> None:
    code, out, err = invoke("verify", vin, "--date", "2026-11-27")
    assert code == 1, err
    assert out == f"{shown} NOT insured on 2026-11-27; not registered\n"


# -- 2.8 status is whole when piped ----------------------------------------------------------


def test_status_prints_whole_names_when_not_on_a_terminal(home: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    long_file = incoming / f"{LONG_NAME}.x12"
    long_file.write_bytes(b"")  # FILE-EMPTY: a submission all the same
    assert invoke("submit", str(long_file))[0] == 1
    code, out, err = invoke("status")
    assert code == 0, err
    assert f"{LONG_NAME}.x12" in out
    assert "…" not in out
    row = next(line for line in out.splitlines() if LONG_NAME in line)
    assert "failed" in row  # the other columns are on the same line, not cut either


# -- 2.12 warnings are errors ----------------------------------------------------------------


def test_the_suite_runs_with_warnings_as_errors() -> None:
    """setup.cfg [tool:pytest] filterwarnings = error: a deprecation fails the test that
    raised it (third-party ones we cannot fix are named there, with the reason)."""
    with pytest.raises(DeprecationWarning):
        warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)
