"""What the tests of every service share.

- `wait_for`: poll a condition until it holds, failing with what did not happen.
- `publish` / `Publisher`: put events on the real topics as a service's outbox relay does.
- `read_topic`: read what a service published on a topic.
- `feed_catalogue`: the catalogue events a service needs before a test, published and applied to its replica.
- `tests.support.factories`: factories of the contracts' events (units, versions, decisions, receipts).

A test package's own `support.py` keeps what is particular to it: its data and a running service.
"""

from tests.support.catalogue import feed_catalogue, wait_for_replica
from tests.support.topics import Event, Publisher, Record, publish, read_topic
from tests.support.wait import wait_for

__all__ = ["Event", "Publisher", "Record", "feed_catalogue", "publish", "read_topic", "wait_for", "wait_for_replica"]
