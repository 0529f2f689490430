"""The HTTP service end to end: a real uvicorn server (``epoi serve``) on 127.0.0.1 and a
real HTTP client, on the embedded default and on PostgreSQL.

The world: the sample carriers and registrations; each carrier uploads its sample file over
HTTP; ``epoi run`` processes what was queued.  Then every role and route, the isolation
between carriers, every bad input, and coverage answers compared with ``epoi verify``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import APIRoute

from _serve import Server, cli, epoi_env, issue
from conftest import POSTGRES_URL, _postgres_admin_engine
from epoi.api import create_app
from epoi.config import Settings
from epoi.store import Store, TokenRole, issue_token

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_edi"
FILES = {"95319": "bigsurfc_20261127_001.x12", "16328": "cascadefc_20261127_001.x12",
         "19494": "montereyexch_20261127_001.x12"}
X12 = {"content-type": "application/edi-x12"}
UPLOAD_LIMIT = 1_000_000
TOKEN_CACHE_SECONDS = 1  # the server's: a revoked token is refused after this long


class World:
    def __init__(self, server: Server, env: dict[str, str], tokens: dict[str, str],
                 uploads: dict[str, dict]) -> None:  # fmt: skip
        self.server, self.env, self.tokens, self.uploads = server, env, tokens, uploads

    def client(self, who: str | None) -> httpx.Client:
        return self.server.client(self.tokens[who] if who else None)


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:  # fmt: skip
    root = tmp_path_factory.mktemp(f"api-{request.param}")
    url = None
    if request.param == "postgresql":
        admin = _postgres_admin_engine()
        schema = f"epoi_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    env = epoi_env(root / "home", url, EPOI_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT),
                   EPOI_TOKEN_CACHE_SECONDS=str(TOKEN_CACHE_SECONDS))
    for args in (["db", "upgrade"], ["carriers", "import", str(REPO / "examples/carriers.csv")],
                 ["registrations", "load", str(SAMPLE / "registrations.csv")]):
        code, _out, err = cli(env, *args)
        assert code == 0, err
    tokens = {naic: issue(env, "carrier", naic) for naic in FILES}
    tokens |= {"renewal": issue(env, "renewal"), "auditor": issue(env, "auditor"),
               "revoked": issue(env, "renewal")}
    code, out, _ = cli(env, "tokens", "list", "--json")
    revoked_id = json.loads(out)["tokens"][-1]["id"]
    assert cli(env, "tokens", "revoke", str(revoked_id))[0] == 0
    store = Store(Settings(home=root / "home", database_url=url).resolved_database_url)
    with store.session() as session:  # issued long ago, for a day
        _info, tokens["expired"] = issue_token(
            session, role=TokenRole.RENEWAL, valid_for=timedelta(days=1),
            now=datetime.now(UTC) - timedelta(days=3))
    store.dispose()
    server = Server(env, root / "server.log")
    try:
        uploads = {}
        for naic, name in FILES.items():
            with server.client(tokens[naic]) as c:
                r = c.post("/v1/submissions", params={"name": name}, headers=X12,
                           content=(SAMPLE / name).read_bytes())
            assert r.status_code == 201, r.text
            uploads[naic] = r.json()
        code, _out, err = cli(env, "run")  # normalise and match what the uploads queued
        assert code in (0, 1), err
        yield World(server, env, tokens, uploads)
    finally:
        server.stop()
        if url is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["code"] == code and doc["message"], doc
    assert "Traceback" not in r.text
    return doc


# -- health, OpenAPI --------------------------------------------------------------------------


def _api_routes(routes: list) -> Iterator[APIRoute]:
    """The app's API routes, through included routers (which newer FastAPI keeps nested)."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        inner = getattr(r, "original_router", None) or getattr(r, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            yield from _api_routes(inner.routes)


def test_health_and_the_openapi_document_list_every_route(world: World, tmp_path: Path) -> None:
    with world.client(None) as c:
        assert c.get("/health").json() == {"status": "ok"}
        doc = c.get("/openapi.json").json()
        assert "text/html" in c.get("/docs").headers["content-type"]
    settings = Settings(home=tmp_path)
    store = Store(settings.resolved_database_url)
    app = create_app(settings, store)
    routes = {(r.path, m.lower()) for r in _api_routes(app.routes) for m in r.methods}
    store.dispose()
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == routes
    assert "bearer" in json.dumps(doc["components"]["securitySchemes"]).lower()
    # Every documented route is served (none of them is an unknown route).
    with world.server.client() as c:
        for path, method in documented:
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            r = c.request(method.upper(), concrete)
            assert r.status_code != 404 or r.json()["code"] != "NOT-FOUND", (method, path)


# -- who may do what ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "garbage", "revoked", "expired"])
def test_a_request_without_a_valid_token_gets_401(world: World, token: str | None) -> None:
    headers = {}
    if token == "garbage":
        headers["Authorization"] = "Bearer epoi_not-a-token"
    elif token:
        headers["Authorization"] = f"Bearer {world.tokens[token]}"
    with world.server.client() as c:
        for method, path in (("GET", "/v1/coverage/1HGCM82633A004352"),
                             ("GET", "/v1/submissions"), ("GET", "/v1/reports/summary")):
            r = c.request(method, path, headers=headers)
            _error(r, 401, "AUTH-MISSING" if token is None else "AUTH-INVALID")
            assert r.headers["www-authenticate"] == "Bearer"


def test_a_token_revoked_while_in_use_is_refused_once_the_cache_expires(world: World) -> None:
    token = issue(world.env, "renewal")
    path = f"/v1/coverage/{_vins()[0]}"
    with world.server.client(token) as c:
        assert c.get(path).status_code == 200  # the worker now holds the token
        assert c.post("/v1/coverage", json={"vins": [_vins()[0]]}).status_code == 200
        code, out, _err = cli(world.env, "tokens", "list", "--json")
        assert cli(world.env, "tokens", "revoke", str(json.loads(out)["tokens"][-1]["id"]))[0] == 0
        time.sleep(TOKEN_CACHE_SECONDS + 0.5)
        _error(c.get(path), 401, "AUTH-INVALID")
        _error(c.post("/v1/coverage", json={"vins": [_vins()[0]]}), 401, "AUTH-INVALID")


@pytest.mark.parametrize(("who", "path"), [
    ("renewal", "/v1/submissions"), ("renewal", "/v1/reports/summary"),
    ("auditor", "/v1/coverage/1HGCM82633A004352"), ("auditor", "/v1/vehicles"),
    ("95319", "/v1/coverage/1HGCM82633A004352"), ("95319", "/v1/reports/unmatched"),
])
def test_a_role_asking_for_what_it_may_not_have_gets_403(world: World, who: str, path: str
                                                        ) -> None:  # fmt: skip
    with world.client(who) as c:
        _error(c.get(path), 403, "FORBIDDEN")


# -- carriers --------------------------------------------------------------------------------


def test_an_upload_is_archived_acknowledged_and_a_duplicate_recognised(world: World) -> None:
    body = (SAMPLE / FILES["95319"]).read_bytes()
    first = world.uploads["95319"]
    assert first["sha256"] == hashlib.sha256(body).hexdigest()
    assert first["size"] == len(body) and first["state"] == "acknowledged" and first["accepted"]
    assert [i["ta1"] for i in first["interchanges"]] == [{"ack_code": "A", "note_code": "000"}]
    assert "archive_path" not in first
    home = Path(world.env["EPOI_HOME"])
    sha = first["sha256"]
    assert (home / "archive" / sha[:2] / sha[2:4] / sha).read_bytes() == body
    with world.client("95319") as c:
        again = c.post("/v1/submissions", headers=X12, content=body)
    assert again.status_code == 200
    doc = again.json()
    assert doc["duplicate"] and doc["error"]["code"] == "SUBMISSION-DUPLICATE"
    assert doc["submission_id"] == first["submission_id"]


def test_a_carrier_reads_its_own_submissions_and_acks_only(world: World) -> None:
    mine, theirs = world.uploads["95319"], world.uploads["16328"]
    with world.client("95319") as c:
        listed = c.get("/v1/submissions").json()["submissions"]
        assert [s["submission_id"] for s in listed] == [mine["submission_id"]]
        status = c.get(f"/v1/submissions/{mine['submission_id']}").json()
        assert status["sha256"] == mine["sha256"] and status["state"] in ("normalised", "matched")
        acks = c.get(f"/v1/submissions/{mine['submission_id']}/acks").json()["files"]
        kinds = sorted(a["kind"] for a in acks)
        assert "TA1" in kinds and "997" in kinds
        for a in acks:
            r = c.get(a["url"])
            assert r.status_code == 200 and r.headers["content-type"] == "application/edi-x12"
            text = r.text
            assert text.startswith("ISA")
            assert {"TA1": "TA1*", "997": "AK1*", "811": "ST*811*"}[a["kind"]] in text
        assert mine["acks"] and all(c.get(u).status_code == 200 for u in mine["acks"])
        # Another carrier's submission is exactly as absent as one that does not exist.
        missing = 999_999
        for sid in (theirs["submission_id"], missing):
            for suffix in ("", "/acks", "/acks/x.x12"):
                doc = _error(c.get(f"/v1/submissions/{sid}{suffix}"), 404, "SUBMISSION")
                assert doc["message"] == f"no submission {sid}"


def test_a_carrier_sees_its_own_vehicles_without_a_match(world: World) -> None:
    truth = _rows("ground_truth.csv")
    seen = 0
    for naic in FILES:
        with world.client(naic) as c:
            doc = c.get("/v1/vehicles").json()
            pending = c.get("/v1/vehicles", params={"state": "pending"}).json()["vehicles"]
            _error(c.get("/v1/vehicles", params={"state": "bogus"}), 422, "REQUEST-INVALID")
        assert doc["carrier"] == naic
        assert {v["carrier_naic"] for v in doc["vehicles"]} <= {naic}
        assert {v["state"] for v in pending} <= {"pending"}
        assert all(v["state"] in ("pending", "unmatched", "ambiguous") for v in doc["vehicles"])
        reported = {t["reported_vin"] for t in truth if t["carrier_naic"] == naic}
        assert {v["vin"] for v in doc["vehicles"]} <= reported
        seen += len(doc["vehicles"])
    assert seen > 0, "the sample's faults leave some vehicles without a match"


# -- renewal system --------------------------------------------------------------------------


def _vins() -> list[str]:
    truth = _rows("ground_truth.csv")
    regs = _rows("registrations.csv")
    return sorted({t["registered_vin"] for t in truth if t["registered_vin"]})[:25] + \
        [r["vin"] for r in regs[-5:]]


def test_coverage_answers_are_those_of_epoi_verify(world: World) -> None:
    vins = _vins()
    insured = 0
    with world.client("renewal") as c:
        for day in ("2026-11-27", "2025-01-01"):
            batch = c.post("/v1/coverage", json={"vins": vins, "date": day}).json()
            assert batch["date"] == day and len(batch["results"]) == len(vins)
            for vin, answer in zip(vins, batch["results"], strict=True):
                single = c.get(f"/v1/coverage/{vin}", params={"date": day}).json()
                assert single == answer
                code, out, err = cli(world.env, "verify", vin, "--date", day, "--json")
                assert code == (0 if answer["insured"] else 1), err
                expected = json.loads(out)
                expected.pop("report")
                if expected["policy_number"]:
                    number = expected["policy_number"]
                    expected["policy_number"] = "*" * (len(number) - 4) + number[-4:]
                assert answer == expected
                insured += answer["insured"]
    assert insured > 0, "some of the sample's vehicles are insured"


def test_coverage_batch_limits(world: World) -> None:
    with world.client("renewal") as c:
        vin = _vins()[0]
        _error(c.post("/v1/coverage", json={"vins": [vin] * 1001}), 422, "BATCH-TOO-LARGE")
        assert len(c.post("/v1/coverage", json={"vins": [vin] * 1000}).json()["results"]) == 1000
        _error(c.post("/v1/coverage", content=json.dumps({"vins": [vin]}),
                      headers={"content-type": "text/plain"}), 415, "CONTENT-TYPE")
        _error(c.post("/v1/coverage", content=b"{not json", headers={
            "content-type": "application/json"}), 422, "REQUEST-INVALID")
        doc = _error(c.post("/v1/coverage", json={"vins": [vin, "NOTAVIN"]}), 422, "VIN-INVALID")
        assert doc["message"].startswith("vins[1]")
        _error(c.post("/v1/coverage", json={"vins": [vin], "date": "2026-13-01"}), 422,
               "DATE-INVALID")


# -- auditors --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["summary", "unmatched", "timeliness", "carrier/16328"])
def test_auditor_reports_are_those_of_epoi_report(world: World, kind: str) -> None:
    media = {"json": "application/json", "csv": "application/zip", "html": "text/html"}
    with world.client("auditor") as c:
        for fmt, mtype in media.items():
            r = c.get(f"/v1/reports/{kind}", params={"format": fmt})
            assert r.status_code == 200 and r.headers["content-type"].startswith(mtype)
        tables = zipfile.ZipFile(io.BytesIO(
            c.get(f"/v1/reports/{kind}", params={"format": "csv"}).content))
        doc = c.get(f"/v1/reports/{kind}").json()
        first = next(n for n in tables.namelist() if n != "report.csv")
        one = c.get(f"/v1/reports/{kind}",
                    params={"format": "csv", "section": first.removesuffix(".csv")})
        assert one.headers["content-type"].startswith("text/csv")
        assert one.text == tables.read(first).decode("utf-8")
        _error(c.get(f"/v1/reports/{kind}", params={"format": "csv", "section": "nope"}),
               422, "USAGE")
    code, out, err = cli(world.env, "report", *kind.split("/"), "--format", "json")
    assert code == 0, err
    expected = json.loads(out)
    for d in (doc, expected):
        d.pop("generated_at")
    assert doc == expected
    assert doc["masked"] is True


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_gets_a_coded_json_error(world: World) -> None:
    with world.client("renewal") as c:
        _error(c.get("/v1/coverage/NOT-A-VIN"), 422, "VIN-INVALID")
        _error(c.get("/v1/coverage/1HGCM82633A004352", params={"date": "27/11/2026"}), 422,
               "DATE-INVALID")
        _error(c.get("/v1/nothing-here"), 404, "NOT-FOUND")
        _error(c.delete("/v1/coverage/1HGCM82633A004352"), 405, "METHOD-NOT-ALLOWED")
    with world.client("auditor") as c:
        _error(c.get("/v1/reports/summary", params={"format": "pdf"}), 422, "REQUEST-INVALID")
        _error(c.get("/v1/reports/summary", params={"from": "2026-12-01", "to": "2026-11-01"}),
               422, "USAGE")
        _error(c.get("/v1/reports/carrier/00000"), 404, "CARRIER")
    with world.client("95319") as c:
        _error(c.post("/v1/submissions", content=b"ISA*", headers={"content-type": "image/png"}),
               415, "CONTENT-TYPE")
        _error(c.get("/v1/submissions/not-a-number"), 422, "REQUEST-INVALID")
    assert "Traceback" not in world.server.log()


def _archive_leftovers(world: World) -> list[Path]:
    return list((Path(world.env["EPOI_HOME"]) / "archive").glob(".incoming-*"))


def test_an_upload_over_the_limit_is_refused_and_leaves_no_trace(world: World) -> None:
    def body() -> Iterator[bytes]:  # chunked: the server learns the size as it reads
        for _ in range(2 * UPLOAD_LIMIT // 65536 + 1):
            yield b"X" * 65536

    with world.client("95319") as c:
        before = c.get("/v1/submissions").json()["submissions"]
        _error(c.post("/v1/submissions", headers=X12, content=body()), 413, "UPLOAD-TOO-LARGE")
        # Declared too large: refused before a byte is read.
        r = c.post("/v1/submissions", headers={**X12, "content-length": str(UPLOAD_LIMIT + 1)},
                   content=b"X" * (UPLOAD_LIMIT + 1))
        _error(r, 413, "UPLOAD-TOO-LARGE")
        assert c.get("/v1/submissions").json()["submissions"] == before
    assert _archive_leftovers(world) == []
    assert world.server.log().count('"upload_refused"') >= 2


@pytest.mark.parametrize("case", ["garbage", "truncated"])
def test_a_garbage_or_truncated_body_is_answered_as_epoi_submit_would(
        world: World, case: str, tmp_path: Path) -> None:  # fmt: skip
    good = (SAMPLE / FILES["19494"]).read_bytes()
    body = (b"Dear DMV, this is no X12 at all " + uuid.uuid4().bytes.hex().encode()
            if case == "garbage" else good[: len(good) // 2] + uuid.uuid4().hex.encode())
    with world.client("19494") as c:
        r = c.post("/v1/submissions", headers=X12, content=body)
    assert r.status_code == 201, r.text
    online = r.json()
    # The same bytes through `epoi submit` in a world of its own.
    path = tmp_path / f"{case}.x12"
    path.write_bytes(body)
    env = epoi_env(tmp_path / "home", None)
    assert cli(env, "carriers", "import", str(REPO / "examples/carriers.csv"))[0] == 0
    code, out, err = cli(env, "submit", str(path), "--carrier", "19494", "--json")
    assert code == 1, err
    offline = json.loads(out)["submissions"][0]
    assert online["error"] and online["error"]["code"]
    for key in ("sha256", "size", "state", "accepted", "error", "rejected_records"):
        assert online[key] == offline[key], key
    strip = [{k: v for k, v in i.items() if k != "control_number"} for i in online["interchanges"]]
    assert strip == [{k: v for k, v in i.items() if k != "control_number"}
                     for i in offline["interchanges"]]
    assert len(online["acks"]) == len(offline["acks"])


def _health_lines(server: Server) -> list[str]:
    return [ln for ln in server.log().splitlines() if '"/health"' in ln]


def _next_health_line(server: Server, seen: int) -> str:
    """The access-log line of a /health request after the first ``seen`` of them: the server
    writes it once the response has gone out, so wait for it (10 s at most)."""
    deadline = time.monotonic() + 10
    while len(lines := _health_lines(server)) <= seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lines) > seen, "no access-log line for the request"
    return lines[seen]


def test_forwarded_headers_count_only_from_configured_proxies(world: World, tmp_path: Path
                                                             ) -> None:  # fmt: skip
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    seen = len(_health_lines(world.server))
    with world.client(None) as c:
        c.get("/health", headers=forwarded)
    line = _next_health_line(world.server, seen)
    assert '"client": "127.0.0.1"' in line and '"scheme": "http"' in line
    trusting = Server({**world.env, "EPOI_TRUSTED_PROXIES": "127.0.0.1"}, tmp_path / "p.log")
    try:
        with trusting.client() as c:
            c.get("/health", headers=forwarded)
        # The start-up probe's own /health line may land late: look for ours by its address.
        deadline = time.monotonic() + 10
        while not (ours := [ln for ln in _health_lines(trusting) if "203.0.113.7" in ln]):
            assert time.monotonic() < deadline, "the forwarded address was not believed"
            time.sleep(0.05)
        assert '"client": "203.0.113.7"' in ours[0] and '"scheme": "https"' in ours[0]
    finally:
        trusting.stop()


def test_no_traceback_reached_the_server_log(world: World) -> None:
    log = world.server.log()
    assert '"http_request"' in log
    assert "Traceback" not in log and '"internal_error"' not in log


# -- a 200 MB upload -------------------------------------------------------------------------

BIG = 200 * 1024 * 1024


def test_a_200_mb_upload_keeps_server_memory_flat(tmp_path: Path) -> None:
    """On the embedded default only: the upload path does not touch the database until the
    bytes are archived, so the store makes no difference to it."""
    env = epoi_env(tmp_path / "home", None)
    assert cli(env, "carriers", "import", str(REPO / "examples/carriers.csv"))[0] == 0
    token = issue(env, "carrier", "95319")
    server = Server(env, tmp_path / "server.log")
    try:
        with server.client(token) as c:  # warm: the first request loads what it imports
            c.post("/v1/submissions", headers=X12, content=b"warm-up")
        before = server.memory_kib()
        digest = hashlib.sha256()
        chunk = b"NOT X12 " * 8192  # 64 KiB

        def body() -> Iterator[bytes]:
            for _ in range(BIG // len(chunk)):
                digest.update(chunk)
                yield chunk

        with server.client(token) as c:
            r = c.post("/v1/submissions", headers=X12, content=body())
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc["size"] == BIG and doc["sha256"] == digest.hexdigest()
        grown = server.memory_kib() - before
        print(f"server VmHWM {before} KiB before, grew {grown} KiB for a 200 MB upload")
        assert grown < 64 * 1024, f"server peak memory grew by {grown} KiB for a 200 MB upload"
    finally:
        server.stop()
