"""Queues between the stages: kombu topology, publisher, consumer loop, retry and dead letter.

The same code runs on the embedded default (kombu's SQLAlchemy transport on a SQLite file
under ``EPOI_HOME``) and on RabbitMQ; only ``QueueConfig.broker_url`` differs.

    config = QueueConfig.from_settings(settings)
    with Broker(config) as broker:
        broker.requeue(units_not_done)                 # start-up: the store is the truth
        Worker(broker, {"parse": parse_handler}).run(until_idle=True)
        dead_list(broker); dead_replay(broker, "all")
"""

from epoi.queues._broker import Broker
from epoi.queues._config import QueueConfig
from epoi.queues._dead import dead_list, dead_replay
from epoi.queues._headers import error_code_and_message, is_permanent
from epoi.queues._topology import Topology
from epoi.queues._worker import Handler, Worker, WorkerStats, stop_on_signals
from epoi.schemas.messages import DeadLetter, Envelope, Kind

__all__ = [
    "Broker",
    "DeadLetter",
    "Envelope",
    "Handler",
    "Kind",
    "QueueConfig",
    "Topology",
    "Worker",
    "WorkerStats",
    "dead_list",
    "dead_replay",
    "error_code_and_message",
    "is_permanent",
    "stop_on_signals",
]
