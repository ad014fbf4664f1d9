# Python clients for test/integration/compression.test.ts: confluent-kafka-python
# (librdkafka) and kafka-python (with Debian's python3-snappy, python3-lz4 and
# python3-zstandard), producing with a codec and consuming by assignment.
#
#   clients.py produce confluent|kafka-python '{"bootstrap":..,"topic":..,"codec":..,"records":[[key, value], ...]}'
#   clients.py consume confluent|kafka-python '{"bootstrap":..,"topics":{"name": count, ...}}'
#
# produce prints {"ok": true} once every record is acknowledged; consume
# prints {"records": {"topic": [[offset, key, value], ...]}, "errors": {...}}
# once every topic has its count (or after 40 s).
import json
import sys
import time

DEADLINE_S = 40


def produce_confluent(cfg):
    from confluent_kafka import Producer
    errors = []
    producer = Producer({'bootstrap.servers': cfg['bootstrap'], 'compression.type': cfg['codec'], 'linger.ms': 50, 'acks': 'all'})

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    for key, value in cfg['records']:
        producer.produce(cfg['topic'], key=key, value=value, partition=0, headers=[('codec', cfg['codec'].encode())], on_delivery=delivered)
    if producer.flush(30) != 0:
        errors.append('records still queued after 30 s')
    return {'ok': not errors, 'errors': errors}


def produce_kafka_python(cfg):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=cfg['bootstrap'], compression_type=cfg['codec'], linger_ms=50, acks='all')
    futures = [producer.send(cfg['topic'], key=key.encode(), value=value.encode(), partition=0, headers=[('codec', cfg['codec'].encode())])
               for key, value in cfg['records']]
    producer.flush(30)
    errors = []
    for f in futures:
        try:
            f.get(timeout=30)
        except Exception as e:  # noqa: BLE001 - reported to the test
            errors.append(repr(e))
    producer.close(10)
    return {'ok': not errors, 'errors': errors}


def consume_confluent(cfg):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    consumer = Consumer({'bootstrap.servers': cfg['bootstrap'], 'group.id': 'compression-check', 'enable.auto.commit': False,
                         'auto.offset.reset': 'earliest', 'enable.partition.eof': False})
    wanted = cfg['topics']
    consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in wanted])
    got = {t: [] for t in wanted}
    errors = {}
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline and any(len(got[t]) < n for t, n in wanted.items()):
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            errors[msg.topic() or '?'] = str(msg.error())
            continue
        got[msg.topic()].append([msg.offset(), msg.key().decode() if msg.key() is not None else None,
                                 msg.value().decode() if msg.value() is not None else None])
    consumer.close()
    return {'records': got, 'errors': errors}


def consume_kafka_python(cfg):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=cfg['bootstrap'], group_id=None, enable_auto_commit=False, auto_offset_reset='earliest')
    wanted = cfg['topics']
    parts = [TopicPartition(t, 0) for t in wanted]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    got = {t: [] for t in wanted}
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline and any(len(got[t]) < n for t, n in wanted.items()):
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                got[tp.topic].append([m.offset, m.key.decode() if m.key is not None else None,
                                      m.value.decode() if m.value is not None else None])
    consumer.close()
    return {'records': got, 'errors': {}}


ACTIONS = {
    ('produce', 'confluent'): produce_confluent,
    ('produce', 'kafka-python'): produce_kafka_python,
    ('consume', 'confluent'): consume_confluent,
    ('consume', 'kafka-python'): consume_kafka_python,
}

if __name__ == '__main__':
    action, client, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    sys.stdout.write(json.dumps(ACTIONS[(action, client)](config)) + '\n')
