"""A submission reaches the workers whichever door it came in by: ``epoi submit`` and
``POST /v1/submissions`` (a real ``epoi serve``) both publish the units they queued in the
store when a broker is configured (``epoi.pipeline.publish_queued``), on the server-less
transport and on RabbitMQ with PostgreSQL.  Without a broker nothing is published: ``epoi
run`` starts from the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _scaleout import RABBITMQ_URL, Deployment, require_services
from _serve import Server, cli, epoi_env, issue
from epoi._clock import utc_now
from epoi.config import Settings
from epoi.intake import submit
from epoi.pipeline import import_carriers, open_broker, open_store, publish_queued
from epoi.queues import Broker
from epoi.store import Store, queued_units

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_edi"
UPLOAD = SAMPLE / "bigsurfc_20261127_001.x12"  # sent by carrier 95319
BY_HAND = SAMPLE / "cascadefc_20261127_001.x12"  # sent by carrier 16328
X12 = {"content-type": "application/edi-x12"}
KINDS = ("parse", "normalize", "match")


@pytest.fixture(params=["server-less", "rabbitmq"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    home = tmp_path / "home"
    if request.param == "server-less":
        # A configured broker on the server-less transport: a file of its own.
        yield Settings(home=home, broker_url=f"sqla+sqlite:///{tmp_path / 'broker.db'}")
        return
    require_services()
    dep = Deployment(home)
    try:
        yield Settings(home=home, database_url=dep.database_url, broker_url=RABBITMQ_URL,
                       queue_namespace=dep.namespace)  # fmt: skip
    finally:
        dep.close()  # the database and the namespace's queues go


def _depth(broker: Broker) -> int:
    return sum(broker.depth(broker.topology.queue(kind)) for kind in KINDS)  # type: ignore[arg-type]


def _queued(store: Store) -> int:
    with store.session(readonly=True) as session:
        return len(queued_units(session))


def test_an_upload_and_epoi_submit_both_publish_what_they_queued(
    settings: Settings, tmp_path: Path
) -> None:
    env = epoi_env(settings.home, settings.database_url, EPOI_BROKER_URL=str(settings.broker_url),
                   EPOI_QUEUE_NAMESPACE=settings.queue_namespace)  # fmt: skip
    for args in (["db", "upgrade"], ["carriers", "import", str(REPO / "examples/carriers.csv")]):
        code, _out, err = cli(env, *args)
        assert code == 0, err
    token = issue(env, "carrier", "95319")
    store = Store.from_settings(settings)
    server = Server(env, tmp_path / "server.log")
    try:
        with open_broker(settings) as broker:
            assert _depth(broker) == 0
        with server.client(token) as c:
            sent = c.post("/v1/submissions", params={"name": UPLOAD.name}, headers=X12,
                          content=UPLOAD.read_bytes())  # fmt: skip
            assert sent.status_code == 201, sent.text
            uploaded = _queued(store)
            assert uploaded > 0
            with open_broker(settings) as broker:
                assert _depth(broker) == uploaded  # every unit it queued, on the queues
            again = c.post("/v1/submissions", params={"name": UPLOAD.name}, headers=X12,
                           content=UPLOAD.read_bytes())  # fmt: skip
            assert again.status_code == 200 and again.json()["duplicate"], again.text
        with open_broker(settings) as broker:
            assert _depth(broker) == uploaded  # a duplicate queues and publishes nothing

        code, _out, err = cli(env, "submit", str(BY_HAND), "--json")
        assert code == 0, err
        both = _queued(store)
        assert both > uploaded
        with open_broker(settings) as broker:
            assert _depth(broker) == both
    finally:
        server.stop()
        store.dispose()


def test_without_a_broker_nothing_is_published_and_the_store_keeps_the_units(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "home")
    store = open_store(settings)
    try:
        import_carriers(store, REPO / "examples" / "carriers.csv", now=utc_now())
        [result] = submit([str(UPLOAD)], store=store, settings=settings, clock=utc_now)
        assert _queued(store) > 0
        assert publish_queued(store, settings, [result.submission_id]) == 0
        with open_broker(settings) as broker:
            assert _depth(broker) == 0
        assert _queued(store) > 0  # left for `epoi run`
    finally:
        store.dispose()
