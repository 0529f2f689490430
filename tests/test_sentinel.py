"""Personal data stays out: 811 files with planted sentinel values (names, licence numbers,
dates of birth, addresses, FEINs) go through the whole pipeline, good ones and failing ones
(business errors, 997 syntax errors, a broken envelope, a truncated file, a file that is not
X12, an unknown sender, a poison message and a corrupted unit that both end in the dead-letter
queue), with ``--log-level DEBUG``.  Every log line and every output is captured: stdout and
stderr of every command, JSON outputs, the reports (masked), the dead letters, the TA1 and 997
acks, the files epoi writes under its home.  No sentinel may appear in any of them.

Allowed to carry the data, by design: the archive of the original files, the database, and
the error-return 811 (it echoes the carrier's own records back to the carrier).

All commands run in subprocesses (one Python process per phase, so that the structlog
configuration and every stray ``print`` of the real program are what is captured).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import subprocess_env
from epoi.schemas.vin import with_check_digit, year_code

# Every phase in a subprocess over the whole pipeline (~20 s): the slow tier.
pytestmark = pytest.mark.slow

# -- the sentinels -------------------------------------------------------------------------

LAST, FIRST, MIDDLE = "QUIXBLATT", "ZEPHYRINE", "VOSKUIJLEN"
ORG = "GRYMWALD HOLDINGS"
LICENCE_CA, LICENCE_ODD = "W7310964", "XQ77SENT9"
DOB, DOB_BAD = "19470923", "19471323"  # the second is no real date (month 13)
STREET, CITY = "8841 MARZIPAN FJORD RD", "FROBISHERVILLE"
FEIN_ORG, FEIN_FLEET = "947362815", "836152947"
LONG_LAST = "QUIXBLATTQUIXBLATTQUIXBLATTQUIXBLATTQUIXBLATTQUIXBLATTQUIXBLATT"  # > 60: 997 error

SENTINELS = (
    LAST, FIRST, MIDDLE, "GRYMWALD", LICENCE_CA, LICENCE_ODD, DOB, "1947-09-23", DOB_BAD,
    "1947-13-23", "MARZIPAN", CITY, FEIN_ORG, FEIN_FLEET, "94-7362815", "83-6152947",
    "19620228", "1962-02-28", "1947-02-31",
)

# Model year 2020 (year code L at position 10), check digits computed.
VIN_OK = [with_check_digit(v[:9] + year_code(2020) + v[10:]) for v in (
    "1HGCM82603A004352", "2T1BURHE0JC000017", "5YJ3E1EA0KF000031", "1FTFW1ET0DF000045",
    "3VWFE21C04M000059", "JHMFA16506S000063")]
VIN_BAD_CHECK = VIN_OK[5][:8] + ("0" if VIN_OK[5][8] != "0" else "1") + VIN_OK[5][9:]

# -- building the 811 files ------------------------------------------------------------------


def _isa(sender: str, control: str, test: bool = False) -> str:
    return (f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{'EPOISTATE':<15}*261127*0930"
            f"*U*00401*{control}*1*{'T' if test else 'P'}*:~")


def _person(last: str = LAST, licence: str = LICENCE_CA, dob: str = DOB) -> list[str]:
    return [f"NM1*IL*1*{last}*{FIRST}*{MIDDLE}", f"N3*{STREET}*APT 7", f"N4*{CITY}*CA*95814",
            f"REF*0B*{licence}*CA", f"DMG*D8*{dob}"]


def _org(fein: str = FEIN_ORG) -> list[str]:
    return [f"NM1*IL*2*{ORG}*****FI*{fein}", f"N3*{STREET}", f"N4*{CITY}*CA*95814"]


Policy = tuple[list[str], list[str]]  # segments, VINs


def _policy(number: str, ttype: str, ptype: str, insured: list[str], vins: list[str],
            eff: str = "20261115", extra: tuple[str, ...] = ()) -> Policy:
    head = [f"REF*IG*{number}" if number else "REF*IG*", f"SI*ZZ*TT*{ttype}*PT*{ptype}",
            f"DTM*007*{eff}", *extra]
    return head + insured, vins


def _set(control: str, naic: str, insurer: str, policies: list[Policy]) -> list[str]:
    segs = [f"ST*811*{control}", f"BIG*20261127*SENT-{control}", "HL*1**1*1",
            f"NM1*IN*2*{insurer}*****NI*{naic}", "HL*2*1*2*1", "NM1*ZZ*2*CA"]
    hl = 2
    for body, vins in policies:
        hl += 1
        policy_hl = hl
        segs += [f"HL*{policy_hl}*2*4*{1 if vins else 0}", "LX*1", *body]
        for vin in vins:
            hl += 1
            segs += [f"HL*{hl}*{policy_hl}*5*0", "LX*1", f"VEH*1*{vin}*2020*ZZ*HOND"]
    segs.append(f"SE*{len(segs) + 1}*{control}")
    return segs


def _interchange(
    sender: str, control: str, sets: list[list[str]], *, iea: str | None = None
) -> str:
    gs = f"GS*CI*{sender}*EPOISTATE*20261127*0930*{int(control)}*X*004010"
    segs = [_isa(sender, control), gs]
    for s in sets:
        segs += s
    segs += [f"GE*{len(sets)}*{int(control)}", f"IEA*1*{iea or control}"]
    return "~\n".join(s.rstrip("~") for s in segs) + "~\n"


def _files(root: Path) -> list[Path]:
    acme, naic = "SENTACME", "12345"
    name = "SENTINEL MUTUAL"
    files = {
        "good.x12": _interchange(acme, "000000101", [_set("0001", naic, name, [
            _policy("SP0001", "NBS", "PV", _person(), [VIN_OK[0]]),
            _policy("SP0002", "NBS", "CV", _org(), [VIN_OK[1]]),
            _policy("SP0003", "NBS", "CF", _org(FEIN_FLEET), []),
            _policy("SP0004", "RWL", "PV", _person(licence=LICENCE_ODD, dob="19620228"),
                    [VIN_OK[2]], extra=("DTM*036*20271115",)),
        ])]),
        "bad_records.x12": _interchange(acme, "000000102", [_set("0001", naic, name, [
            _policy("SP0010", "NBS", "PV", _person(), [VIN_OK[3]], eff="20260101"),  # E301
            _policy("SP0011", "NBS", "PV", _person(), [VIN_BAD_CHECK]),  # E204
            _policy("SP0012", "XLC", "PV", _person(), [VIN_OK[4]]),  # E103 no 177, E111
            _policy("SP0013", "NBS", "PV", _person(dob="21470923"), [VIN_OK[0]]),  # E108
        ]), _set("0002", "99999", name, [  # E001: not the carrier's NAIC
            _policy("SP0014", "NBS", "PV", _person(), [VIN_OK[1]]),
        ])]),
        "syntax_errors.x12": _interchange(acme, "000000103", [_set("0001", naic, name, [
            _policy("SP0021", "NBS", "PV", _person(last=LONG_LAST), [VIN_OK[2]]),  # too long
            _policy("SP0022", "NBS", "PV", _person(dob=DOB_BAD), [VIN_OK[3]]),  # bad D8 date
        ]), _set("0002", naic, name, [
            _policy("SP0023", "NBS", "PV", _person(), [VIN_OK[4]]),
        ])]),
        "broken_envelope.x12": _interchange(acme, "000000104", [_set("0001", naic, name, [
            _policy("SP0031", "NBS", "PV", _person(), [VIN_OK[5]]),
        ])], iea="000000999"),  # TA1 001: IEA02 differs from ISA13
        "unknown_sender.x12": _interchange("STRANGERINS", "000000105", [_set("0001", "54321",
            "STRANGER INS", [_policy("SP0041", "NBS", "PV", _person(), [VIN_OK[0]])])]),
        "not_x12.x12": f"Dear DMV, {FIRST} {LAST} ({LICENCE_CA}, born {DOB}) lives at {STREET}.\n",
    }
    good = files["good.x12"]
    files["truncated.x12"] = good[: good.index("DMG*D8") + 20]
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for n, text in files.items():
        (root / n).write_text(text, encoding="latin-1")
        out.append(root / n)
    (root / "registrations.csv").write_text(
        "plate,vin,make,model_year,owner_last,owner_first,owner_org,owner_dl,owner_dl_state,"
        "owner_dob,owner_fein,street,city,state,zip,expires,status\n"
        f"7SNT001,{VIN_OK[0]},HOND,2020,{LAST},{FIRST},,{LICENCE_CA},CA,1947-09-23,,{STREET},"
        f"{CITY},CA,95814,2027-03-01,ACTIVE\n"
        f"7SNT002,{VIN_OK[1]},HOND,2020,,,{ORG},,,,{FEIN_ORG},{STREET},{CITY},CA,95814,"
        "2027-03-01,ACTIVE\n"
        # a bad row: a date of birth that is no date
        f"7SNT003,{VIN_OK[2]},HOND,2020,{LAST},{FIRST},,{LICENCE_ODD},CA,1947-02-31,,{STREET},"
        f"{CITY},CA,95814,2027-03-01,ACTIVE\n",
        encoding="utf-8",
    )
    return out


# -- running it -------------------------------------------------------------------------------

# One Python process runs a list of epoi commands (and the two poison steps), each announced
# on both streams, so that a leak can be traced to its command.
_DRIVER = r'''
import json, sys, sqlite3
from datetime import datetime, timezone
from epoi.cli import main

def poison_message():
    # A message that is no envelope, its body full of personal data, in the parse queue;
    # then a worker runs until idle, as `epoi worker --stage all` would.
    import kombu
    from epoi import _logging
    from epoi.config import Settings
    from epoi.pipeline import Pipeline
    from epoi.queues import Broker, QueueConfig, Worker
    from epoi.store import Store
    _logging.configure("DEBUG")
    settings = Settings()
    store = Store.from_settings(settings)
    with Broker(QueueConfig.from_settings(settings, idle_timeout=1.0)) as broker:
        queue = broker.topology.queue("parse")
        kombu.Producer(broker.connection).publish(
            {"kind": "parse", "unit_id": sys.argv[2], "insured": sys.argv[2]},
            exchange=queue.exchange, routing_key=queue.routing_key, serializer="json",
            declare=[queue])
        pipeline = Pipeline(store, settings, lambda: datetime.now(timezone.utc))
        stats = Worker(broker, pipeline.handlers()).run(until_idle=True)
        print("poison: dead-lettered", stats.dead_lettered, flush=True)
    store.dispose()

def match_stored():
    # What the pipeline's match stage does with its hook, over every stored report (in case
    # `epoi run` is not wired to matching): the hook logs, and the reports show its results.
    from sqlalchemy import select
    from epoi import _logging
    from epoi.config import Settings
    from epoi.matching import pipeline_match_hook
    from epoi.store import PolicyReportRow, Store
    _logging.configure("DEBUG")
    settings = Settings()
    store = Store.from_settings(settings)
    hook = pipeline_match_hook(settings, lambda: datetime.now(timezone.utc))
    with store.session() as session:
        stmt = select(PolicyReportRow).where(PolicyReportRow.status != "rejected")
        rows = session.scalars(stmt).all()
        hook(session, rows)
    store.dispose()

for args in json.loads(sys.argv[1]):
    print("### epoi", " ".join(args), flush=True)
    print("### epoi", " ".join(args), file=sys.stderr, flush=True)
    if args == ["__poison__"]:
        poison_message()
        continue
    if args == ["__match__"]:
        match_stored()
        continue
    try:
        main.main(args=["--log-level", "DEBUG", *args], prog_name="epoi")
    except SystemExit as exc:
        print("### exit", exc.code, flush=True)
'''


def _drive(home: Path, cwd: Path, commands: list[list[str]], extra: str = "") -> str:
    env = subprocess_env(EPOI_HOME=str(home), EPOI_MAX_ATTEMPTS="2", EPOI_RETRY_DELAYS="[0]")
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(commands), extra],
        cwd=cwd, env=env, capture_output=True, timeout=240,
    )
    text = done.stdout.decode("utf-8", "replace") + "\n" + done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, text[-3000:]
    assert "internal error" not in text, text[-3000:]
    return text


def _corrupt_one_unit(db: Path) -> str:
    """Rewrite one queued normalize unit's payload so that its handler raises with the
    personal data in the exception's text (a stand-in for any bug that quotes its input)."""
    with sqlite3.connect(db) as conn:
        key, payload = conn.execute(
            "SELECT key, payload FROM work_units WHERE kind = 'normalize' AND state = 'queued' "
            "ORDER BY id DESC LIMIT 1").fetchone()
        if payload.startswith("{"):  # the JSON form (version 1)
            doc = json.loads(payload)
            doc["version"] = f"{LAST} {LICENCE_CA} {DOB}"
            payload = json.dumps(doc)
        else:  # the compact form: its first line is the version
            payload = f"{LAST} {LICENCE_CA} {DOB}\n" + payload.split("\n", 1)[1]
        conn.execute("UPDATE work_units SET payload = ? WHERE key = ?", (payload, key))
    return key


def _found(text: str) -> list[str]:
    upper = text.upper()
    return [s for s in SENTINELS if s.upper() in upper]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sentinel")
    home, work = root / "home", root / "work"
    files = [str(f) for f in _files(root / "in")]
    work.mkdir()
    out: dict[str, str] = {}
    out["validate+submit"] = _drive(home, work, [
        ["carriers", "add", "--name", "SENTINEL MUTUAL", "--naic", "12345", "--isa-qualifier",
         "ZZ", "--isa-id", "SENTACME", "--production"],
        ["validate", "--json", *files],
        ["validate", *files],
        ["registrations", "load", str(root / "in" / "registrations.csv"), "--json"],
        ["registrations", "load", str(root / "in" / "registrations.csv")],
        ["submit", "--json", *files],
    ])
    out["corrupted unit"] = _corrupt_one_unit(home / "epoi.db")
    out["run"] = _drive(home, work, [["run"], ["run", "--json", *files]])
    out["poison"] = _drive(home, work, [["__poison__"], ["__match__"]],
                           extra=f"{FIRST} {LICENCE_CA} {STREET}")
    with sqlite3.connect(home / "epoi.db") as conn:
        subs = [r[0] for r in conn.execute("SELECT id FROM submissions ORDER BY id")]
    acks_dir = root / "acks"
    # Loading registrations again matches the stored reports (whether or not `epoi run`
    # matches by itself), so the match and unmatched outputs below have rows.
    commands = [["registrations", "load", str(root / "in" / "registrations.csv"), "--json"],
                ["status"], ["status", "--json"], ["dead", "list"], ["dead", "list", "--json"],
                ["carriers", "show", "12345"], ["matches", "--format", "json"],
                ["matches", "--format", "csv"], ["suspensions", "--json"],
                ["verify", VIN_OK[0], "--json"]]
    for sid in subs:
        commands += [["status", str(sid)], ["status", str(sid), "--json"],
                     ["acks", str(sid), "--out", str(acks_dir / str(sid)), "--json"]]
        commands += [["report", "submission", str(sid), "--format", f]
                     for f in ("json", "html")]
        # CSV is one file per table, in a folder under ``work`` (read back below).
        commands += [["report", "submission", str(sid), "--format", "csv", "--out",
                      f"csv-submission-{sid}"]]
    for kind in (["summary"], ["carrier", "12345"], ["unmatched"], ["timeliness"]):
        commands += [["report", *kind, "--format", f] for f in ("json", "html")]
        commands += [["report", *kind, "--format", "csv", "--out", f"csv-{kind[0]}"]]
    out["operator and auditor commands"] = _drive(home, work, commands)
    # Asked for explicitly (and written to the access log): the one output that shows it.
    out["unmasked report (allowed)"] = _drive(home, work, [
        ["report", "unmatched", "--unmasked", "--as", "sentinel-test", "--format", "json"]])
    with sqlite3.connect(home / "epoi.db") as conn:
        # What the outputs could have leaked: the sentinels are in the store.
        out["stored insureds (allowed)"] = json.dumps(conn.execute(
            "SELECT last_name, licence_number, date_of_birth, address_lines, fein FROM insureds"
        ).fetchall())
        out["stored match states (allowed)"] = json.dumps(conn.execute(
            "SELECT state, count(*) FROM match_results GROUP BY state").fetchall())
    # Files epoi wrote, but for the archive (the originals), the databases and the error
    # returns (811s answering the carrier with its own records).
    for path in sorted(p for p in (*home.rglob("*"), *acks_dir.rglob("*"), *work.rglob("*"))
                       if p.is_file()):
        rel = path.relative_to(root)
        if rel.parts[1:2] == ("archive",) or path.suffix in (".db", ".db-wal", ".db-shm"):
            continue
        text = path.read_text(encoding="latin-1")
        if path.parent.parent == acks_dir or "acks" in rel.parts:
            if text.lstrip().startswith("ISA") and "ST*811*" in text:
                out.setdefault("error returns (allowed)", "")
                out["error returns (allowed)"] += text
                continue
        out[f"file {rel}"] = text
    return out


# -- the assertions ---------------------------------------------------------------------------


def test_the_run_exercised_every_failure(outputs: dict[str, str]) -> None:
    """The fixture did what it claims, so the absence of sentinels means something."""
    every = "\n".join(v for k, v in outputs.items())
    for code in ("E204", "E301", "E103", "E108", "E001"):  # business errors
        assert f'"code": "{code}"' in every, code
    assert "TA1" in every and '"note_code": "001"' in every  # broken envelope
    assert "QUEUE-BAD-MESSAGE" in every  # the poison message is a dead letter
    assert "poison: dead-lettered 1" in outputs["poison"]
    assert "UNEXPECTED" in outputs["operator and auditor commands"]  # the corrupted unit, dead
    assert outputs["error returns (allowed)"], "error returns were written"
    # the sentinels really are in the data the outputs are made from
    stored = outputs["stored insureds (allowed)"]
    for value in (LAST, LICENCE_CA, "1947-09-23", "MARZIPAN", FEIN_ORG, FEIN_FLEET):
        assert value in stored, value
    assert "matched" in outputs["stored match states (allowed)"]
    # the masked reports had the records to mask; unmasked, the same report shows them
    assert "W73****4" in outputs["operator and auditor commands"]
    assert LICENCE_CA in outputs["unmasked report (allowed)"]
    assert '"who": "sentinel-test"' in outputs["file home/access.log"]
    acks = [k for k in outputs if k.startswith("file ") and "acks" in k]
    assert any(outputs[k].find("TA1*") >= 0 for k in acks)
    assert any(outputs[k].find("AK1*") >= 0 for k in acks)


def test_no_sentinel_in_any_log_line_or_output(outputs: dict[str, str]) -> None:
    leaks = {
        name: _found(text)
        for name, text in outputs.items()
        if not name.endswith("(allowed)") and _found(text)
    }
    details = []
    for name, found in leaks.items():
        text = outputs[name]
        for s in found:
            i = text.upper().find(s.upper())
            details.append(f"{name}: {s!r} in ...{text[max(0, i - 300):i + 80]!r}")
    assert not leaks, "\n\n".join(details)


# -- the HTTP service --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The same files through ``epoi serve``: uploaded by the carrier over HTTP (and one
    upload over the size limit), processed, then every route read by its role, and requests
    that carry personal data in the path, the query and the body.  Captured: the server's
    whole log (access and error lines) and every response body."""
    from _serve import Server, cli, epoi_env, issue

    root = tmp_path_factory.mktemp("sentinel-online")
    files = _files(root / "in")
    env = epoi_env(root / "home", None, EPOI_MAX_UPLOAD_BYTES="8192")
    for args in (["carriers", "add", "--name", "SENTINEL MUTUAL", "--naic", "12345",
                  "--isa-qualifier", "ZZ", "--isa-id", "SENTACME", "--production"],
                 ["registrations", "load", str(root / "in" / "registrations.csv")]):
        assert cli(env, *args)[0] in (0, 1)  # 1: the planted bad row
    carrier, renewal, auditor = (issue(env, "carrier", "12345"), issue(env, "renewal"),
                                 issue(env, "auditor"))
    server = Server(env, root / "server.log")
    out: dict[str, str] = {}
    try:
        with server.client(carrier) as c:
            for f in files:
                if f.suffix == ".x12":
                    r = c.post("/v1/submissions", params={"name": f.name}, content=f.read_bytes(),
                               headers={"content-type": "application/edi-x12"})
                    out[f"upload {f.name} ({r.status_code})"] = r.text
            personal = f"{LAST} {FIRST} {LICENCE_CA} {DOB} {STREET}\n".encode() * 400
            r = c.post("/v1/submissions", content=personal, headers={"content-type": "text/plain"})
            out[f"upload too large ({r.status_code})"] = r.text
        assert cli(env, "run")[0] in (0, 1)
        with server.client(carrier) as c:
            subs = c.get("/v1/submissions").json()["submissions"]
            out["submissions"] = json.dumps(subs)
            for s in subs:
                sid = s["submission_id"]
                out[f"status {sid}"] = c.get(f"/v1/submissions/{sid}").text
                for a in c.get(f"/v1/submissions/{sid}/acks").json()["files"]:
                    name = f"{a['kind']} {a['name']}" + (" (allowed)" if a["kind"] == "811" else "")
                    out[name] = c.get(a["url"]).text
            out["vehicles"] = c.get("/v1/vehicles").text
        with server.client(renewal) as c:
            for vin in VIN_OK:
                out[f"coverage {vin}"] = c.get(f"/v1/coverage/{vin}").text
            out["coverage batch"] = c.post("/v1/coverage", json={"vins": VIN_OK}).text
            out["coverage of a name"] = c.get(f"/v1/coverage/{LAST}").text
            out["coverage on a birthday"] = c.get(f"/v1/coverage/{VIN_OK[0]}",
                                                  params={"date": DOB}).text
            out["batch of personal data"] = c.post("/v1/coverage", json={
                "vins": [LICENCE_CA, STREET], "date": DOB}).text
            out["no such route"] = c.get(f"/v1/{LICENCE_CA}/{CITY}").text
        with server.client(auditor) as c:
            for kind in ("summary", "unmatched", "timeliness", "carrier/12345"):
                for fmt in ("json", "csv", "html"):
                    out[f"report {kind} {fmt}"] = c.get(f"/v1/reports/{kind}",
                                                        params={"format": fmt}).text
    finally:
        server.stop()
    out["server log"] = server.log()
    return out


def test_the_service_was_exercised(online: dict[str, str]) -> None:
    log = online["server log"]
    assert log.count('"http_request"') > 30 and '"upload_refused"' in log
    assert "upload too large (413)" in online
    assert any("TA1*" in v for k, v in online.items() if k.startswith("TA1 "))
    assert "W73****4" in online["report unmatched json"] or "W73****4" in online["vehicles"]
    assert "VIN-INVALID" in online["coverage of a name"]


def test_no_sentinel_in_the_service_log_or_its_answers(online: dict[str, str]) -> None:
    leaks = {name: _found(text) for name, text in online.items()
             if not name.endswith("(allowed)") and _found(text)}
    assert not leaks, leaks
