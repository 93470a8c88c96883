"""Produce one record as a plain librdkafka client does by default.

confluent-kafka (librdkafka) with no `partitioner` setting hashes keys with
CRC32 (`consistent_random`), as Go, .NET and kcat clients also default to;
Contact Ledger's own producers use murmur2 (the Java client's). The test
that runs this checks a command lands on the tenant's partition anyway.

usage: produce_default.py BROKERS TOPIC KEY VALUE_FILE
prints the partition the record was written to.
"""
import sys

from confluent_kafka import Producer

brokers, topic, key, value_file = sys.argv[1:5]
with open(value_file, "rb") as f:
    value = f.read()
delivered = []
producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})


def report(err, msg):
    if err is not None:
        sys.exit(f"delivery failed: {err}")
    delivered.append(msg.partition())


producer.produce(topic, key=key.encode(), value=value, callback=report)
if producer.flush(30) != 0 or not delivered:
    sys.exit("not delivered within 30 s")
print(delivered[0])
