"""``epoi validate``: the cli.md JSON document, E-codes per record, exit codes."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from epoi.cli import main
from epoi.sample import FaultOptions, generate

FIXTURES = Path(__file__).parent / "fixtures"


def _run(*args: str, home: Path):
    return CliRunner().invoke(main, ["validate", *args], env={"EPOI_HOME": str(home)})


def test_clean_sample_is_accepted_with_counts(tmp_path):
    generate(12, tmp_path / "s", today=date(2026, 11, 27), seed=5, carriers=1,
             faults=FaultOptions(vin_typos=0.0))
    files = sorted(str(p) for p in (tmp_path / "s").glob("*.x12"))
    result = _run("--json", *files, home=tmp_path)
    doc = json.loads(result.output)
    assert result.exit_code == 0, result.output
    sets = [ts for f in doc["files"] for ic in f["interchanges"] for g in ic["groups"]
            for ts in g["transaction_sets"]]
    assert sum(ts["policies"] for ts in sets) == 12
    assert all(ts["ack_code"] == "A" and ts["rejected"] == 0 for ts in sets)


def test_business_edits_are_listed_per_record_and_reject(tmp_path):
    summary = generate(40, tmp_path / "s", today=date(2026, 11, 27), seed=9, carriers=1,
                       faults=FaultOptions(vin_typos=0.0, bad_check_digits=0.2))
    with open(summary.ground_truth_file, newline="") as fh:
        bad_vins = [r for r in csv.DictReader(fh) if "check" in (r.get("fault") or "")]
    assert bad_vins, "the sample should carry check-digit faults"
    files = sorted(str(p) for p in (tmp_path / "s").glob("*.x12"))
    result = _run("--json", *files, home=tmp_path)
    assert result.exit_code == 1  # records rejected
    doc = json.loads(result.output)
    errors = [e for f in doc["files"] for ic in f["interchanges"] for g in ic["groups"]
              for ts in g["transaction_sets"] for e in ts["errors"]]
    e204 = [e for e in errors if e["code"] == "E204"]
    assert len(e204) == len(bad_vins)
    assert {e["policy_number"] for e in e204} == {r["policy_number"] for r in bad_vins}
    assert all(e["segment_id"] == "VEH" and e["element"] == "VEH02" for e in e204)
    positions = [e["segment_position"] for e in errors]
    assert positions == sorted(positions)  # file order within the set


def test_envelope_fault_rejects_with_exit_1(tmp_path):
    fixture = FIXTURES / "envelope" / "ta1_001_iea02_mismatch.x12"
    result = _run("--json", str(fixture), home=tmp_path)
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["files"][0]["accepted"] is False
    assert doc["files"][0]["interchanges"][0]["ta1"] == {"ack_code": "R", "note_code": "001"}


def test_unreadable_file_has_a_coded_error_and_no_traceback(tmp_path):
    empty = tmp_path / "empty.x12"
    empty.write_bytes(b"")
    result = _run("--json", str(empty), home=tmp_path)
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["files"][0]["error"]["code"] == "FILE-EMPTY"
    assert "Traceback" not in result.output


def test_a_policy_with_a_syntax_error_is_rejected_alone(tmp_path):
    """Guide §3: the set is accepted with errors noted (AK5 E) and lists the policy's AK3
    with the E100 that rejects it; the neighbours are edited and not rejected; exit 1."""
    path = FIXTURES / "scope" / "policy_unknown_segment.x12"
    result = _run("--json", str(path), home=tmp_path)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    (ts,) = doc["files"][0]["interchanges"][0]["groups"][0]["transaction_sets"]
    assert doc["files"][0]["accepted"] is True
    assert (ts["ack_code"], ts["error_codes"], ts["rejected_policies"]) == ("E", ["5"], [21])
    assert (ts["policies"], ts["rejected"]) == (3, 1)
    # (the run's clock is today's: the fixture's dates also draw E301 "late" warnings)
    assert [(e["code"], e["segment_id"], e["segment_position"]) for e in ts["errors"]
            if e["severity"] == "error"] == [("1", "PER", 27), ("E100", "PER", 27)]


def test_same_document_in_one_process_or_several(tmp_path):
    """EPOI_WORKERS picks the engine's processes (the CLI's decision); the document is the
    same either way."""
    files = [str(FIXTURES / "scope" / "policy_two_in_error.x12"),
             str(FIXTURES / "envelope" / "ta1_022_missing_iea.x12")]
    out = {}
    for workers in ("1", "2"):
        env = {"EPOI_HOME": str(tmp_path), "EPOI_WORKERS": workers}
        result = CliRunner().invoke(main, ["validate", "--json", *files], env=env)
        assert result.exit_code == 1, result.output
        out[workers] = json.loads(result.output)
    assert out["1"] == out["2"]
    assert [f["accepted"] for f in out["1"]["files"]] == [True, False]  # two policies rejected
