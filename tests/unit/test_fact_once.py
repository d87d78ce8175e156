"""deploys.context.fact_once: one read per relay and fact, however many greenlets ask at the same moment."""

from __future__ import annotations

import gevent
import pytest

from deploys import context


class SlowRelay:
    """Stands in for a pyinfra Host whose fact takes a while over SSH; counts the reads that overlap."""

    def __init__(self, name: str):
        self.name, self.reads, self.at_once, self.most_at_once = name, 0, 0, 0

    def get_fact(self, fact):
        self.reads += 1
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        gevent.sleep(0.01)
        self.at_once -= 1
        if fact is Broken:
            raise OSError("Channel closed.")
        return f"{self.name}: {fact.__name__}"


class Fact:
    pass


class Broken:
    pass


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch):
    monkeypatch.setattr(context, "_READ_THIS_RUN", {})


def test_twenty_five_relays_asking_at_once_read_each_member_once():
    members = [SlowRelay(f"relay-{i}") for i in range(25)]
    asks = [(member, gevent.spawn(context.fact_once, member, Fact)) for _ in range(25) for member in members]
    gevent.joinall([ask for _, ask in asks], raise_error=True)
    assert all(ask.value == f"{member.name}: Fact" for member, ask in asks)
    assert {(m.reads, m.most_at_once) for m in members} == {(1, 1)}


def test_a_failed_read_fails_every_asker_and_none_waits_forever():
    member = SlowRelay("relay-9")
    asks = [gevent.spawn(context.fact_once, member, Broken) for _ in range(12)]
    gevent.joinall(asks, timeout=5)
    assert all(ask.ready() and isinstance(ask.exception, OSError) for ask in asks)
    assert member.reads == 1
