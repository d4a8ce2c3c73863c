"""Poison messages go to the dead-letter topic with their reason; the rest apply once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from dictamesh.events.dlq import (
    MESSAGE_HEADER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    REASON_HEADER,
    TOPIC_HEADER,
)
from dictamesh.events.handlers import HandlerRegistry
from tests.events.consumers.conftest import (
    Topics,
    change_event,
    committed_lag,
    effects,
    encode,
    lag_gauge,
    processed_count,
    publish,
    read_all,
    record_effects,
    wait_for,
)

# Each kind of malformed value, made from a valid one, and the reason it must be given.
MALFORMED: list[tuple[str, Callable[[bytes, int], bytes]]] = [
    ("too_short", lambda valid, i: valid[: i % 5]),
    ("bad_magic", lambda valid, i: bytes([1 + i % 255]) + valid[1:]),
    ("unknown_schema_id", lambda valid, i: b"\x00" + (10**7 + i).to_bytes(4, "big") + valid[5:]),
    ("bad_body", lambda valid, i: valid[: len(valid) - 1 - i % 10]),  # truncated
    ("bad_body", lambda valid, i: valid[:5] + b"\x09" + valid[6:]),  # event_id length -5
    ("bad_body", lambda valid, i: valid[:6] + b"\xff\xfe" + valid[8:]),  # not UTF-8
    ("trailing_bytes", lambda valid, i: valid + b"\x00" * (1 + i % 3)),
]


def _handlers(group: str, topics: Topics) -> HandlerRegistry:
    handlers = HandlerRegistry()
    handlers.register(group, topics.pattern)(record_effects)
    return handlers


def test_a_thousand_malformed_messages_among_ten_thousand_valid_ones(
    effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap
):
    alpha, _ = effect_table
    topic = topics.create(alpha, partitions=3)
    valid_ids: list[str] = []
    bad: dict[bytes, tuple[str, bytes]] = {}  # key -> (expected reason, value)
    sent_bad = {}  # key -> the send's future, which tells where the message landed
    for n in range(11_000):
        record = change_event(alpha, f"c{n}")
        value = encode(codec, topic, record)
        if n % 11 == 10:
            index = n // 11
            reason, corrupt = MALFORMED[index % len(MALFORMED)]
            key, value = f"bad{index}".encode(), corrupt(value, index)
            bad[key] = (reason, value)
        else:
            key = record["entity"]["id"].encode()
            valid_ids.append(record["event_id"])
        future = producer.send(topic, key=key, value=value)
        if key in bad:
            sent_bad[key] = future
    producer.flush()
    assert len(bad) == 1000
    assert len(valid_ids) == 10_000

    consumer = start_consumer(group, _handlers(group, topics))
    consumer.wait(lambda c: c.applied + c.dead_lettered == 11_000, "11,000 messages handled")

    assert (consumer.applied, consumer.dead_lettered, consumer.duplicates) == (10_000, 1000, 0)
    assert sorted(str(row[0]) for row in effects(alpha)) == sorted(valid_ids)
    assert processed_count(alpha, group) == 10_000

    letters = read_all(kafka_bootstrap, f"{topic}.dlq")
    assert len(letters) == 1000
    for letter in letters:
        headers = dict(letter.headers)
        expected_reason, original = bad[letter.key]
        assert headers[REASON_HEADER].decode() == expected_reason, headers[MESSAGE_HEADER]
        assert headers[MESSAGE_HEADER]
        assert letter.value == original
        landed = sent_bad[letter.key].get()
        assert headers[TOPIC_HEADER].decode() == topic
        assert int(headers[PARTITION_HEADER]) == landed.partition
        assert int(headers[OFFSET_HEADER]) == landed.offset
    reasons = Counter(dict(letter.headers)[REASON_HEADER].decode() for letter in letters)
    assert set(reasons) == {reason for reason, _ in MALFORMED}

    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic) == 0, what="offsets committed")
    wait_for(lambda: lag_gauge(group, topic, 3) == 0, what="lag gauge at 0")


def test_events_whose_topic_names_no_tenant_or_another_tenant_go_to_the_dlq(
    effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap
):
    alpha, beta = effect_table
    orphan_topic = topics.create("nosuchtenant", partitions=1)
    alpha_topic = topics.create(alpha, partitions=1)
    publish(producer, codec, orphan_topic, "nosuchtenant", 3)
    good = publish(producer, codec, alpha_topic, alpha, 4)
    producer.send(alpha_topic, key=b"x", value=encode(codec, alpha_topic, change_event(beta, "x")))
    producer.flush()

    consumer = start_consumer(group, _handlers(group, topics))
    consumer.wait(lambda c: c.applied == 4 and c.dead_lettered == 4, "4 applied, 4 dead")

    assert sorted(str(row[0]) for row in effects(alpha)) == sorted(r["event_id"] for r in good)
    assert effects(beta) == []
    orphans = read_all(kafka_bootstrap, f"{orphan_topic}.dlq")
    assert [dict(m.headers)[REASON_HEADER] for m in orphans] == [b"unknown_tenant"] * 3
    mismatched = read_all(kafka_bootstrap, f"{alpha_topic}.dlq")
    assert [dict(m.headers)[REASON_HEADER] for m in mismatched] == [b"tenant_mismatch"]
    wait_for(lambda: committed_lag(kafka_bootstrap, group, orphan_topic) == 0, what="commit")
