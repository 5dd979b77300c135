"""tools.dlq lists dead letters with their reasons and replays them to their source topic once."""

import pytest

from shared.settings import KafkaSettings
from tools import dlq
from tests.support.world import World

pytestmark = pytest.mark.integration


def test_dead_letters_are_listed_with_reasons_and_replayed_once(world: World, capsys) -> None:
    world.start("orders")
    dead = world.reader("platform.orders.dlq")
    world.publish_raw("platform.orders", b'{"truncated": ', key="K-1")
    dead.wait_for(lambda m: m.key == "K-1")
    kafka = KafkaSettings(bootstrap_servers=world.bootstrap, topic_prefix=world.prefix)

    letters = dlq.list_letters(kafka, "platform.orders", limit=10)
    assert [l.value for l in letters] == [b'{"truncated": ']
    printed = capsys.readouterr().out
    assert "not JSON" in printed and world.topic("platform.orders") in printed

    source = world.reader("platform.orders")
    assert dlq.replay(kafka, "platform.orders", offsets=None, dry_run=False) == 1
    replayed = source.wait_for(lambda m: "dlq.replayed_from" in m.headers)
    assert replayed[0].value == b'{"truncated": ' and replayed[0].key == "K-1"
    # The replayed bytes are still bad: dead-lettered again, once more, with their reason.
    dead.wait_for(lambda m: m.key == "K-1", count=2)
    # The first letter was replayed already; only the new one is pending.
    assert dlq.replay(kafka, "platform.orders", offsets=None, dry_run=True) == 1
