"""Every producer compression that settings accept works end to end on the real broker.

kafka-python looks for a codec's library only when a producer is made (and a consumer only
when it meets a compressed batch), so a missing one would surface in production at the
first relay. The project's kafka-python extras install them; this test notices if one goes.
"""

from __future__ import annotations

import kafka.codec
import pytest

from dictamesh.events.producer import EventProducer, OutgoingRecord, ProducerConfig
from tests.events.conftest import consume_all, make_topics, unique_base_topic

CODECS = ("gzip", "lz4", "snappy", "zstd")  # and "none"; as config.settings accepts


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_batches_reach_the_broker_and_read_back(kafka_bootstrap: str,
                                                           codec: str) -> None:
    topic = unique_base_topic(codec)
    make_topics(kafka_bootstrap, [topic], partitions=1)
    # Repetitive values, so that each codec actually shrinks the batch.
    values = [f"entity {n} ".encode() * 50 for n in range(20)]
    config = ProducerConfig(bootstrap_servers=(kafka_bootstrap,), compression=codec,
                            client_id="dictamesh-test")
    with EventProducer(config) as producer:
        delivery = producer.send_batch(
            [OutgoingRecord(topic=topic, key=f"k{n}", value=value)
             for n, value in enumerate(values)])
    assert delivery.ok, delivery.error
    assert [record.value for record in consume_all(kafka_bootstrap, topic, len(values))] == values


def test_every_codec_settings_accept_has_its_library() -> None:
    available = {"gzip": kafka.codec.has_gzip(), "lz4": kafka.codec.has_lz4(),
                 "snappy": kafka.codec.has_snappy(), "zstd": kafka.codec.has_zstd()}
    assert available == dict.fromkeys(CODECS, True)
