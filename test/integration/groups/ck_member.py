# One confluent-kafka-python (librdkafka) consumer-group member, driven by
# the test. argv[1] is JSON:
#   bootstrap, group, topics        what to join and subscribe to
#   conf                            extra librdkafka consumer properties
#   commit: 'record' | 'none'       'record': commit synchronously after each record
#   limits: {partition: offset}     process records below the offset only; at the
#                                   first record at or past it, pause the partition
#   commitFile                      append each successful commit to this file
#   committedAtStart: [[topic, p]]  report committed() for these before subscribing
# Events are JSON lines on stdout (see emit calls); commands come on stdin:
#   close       consumer.close() (a static member does not send LeaveGroup) and exit
#   committed   report committed() for the current assignment
#   gen         report the group generation and member id
import json
import struct
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common import command_queue, config, emit, next_command

cfg = config()
topics = cfg['topics']
limits = {int(p): o for p, o in (cfg.get('limits') or {}).items()}
commit_mode = cfg.get('commit', 'record')
commit_file = open(cfg['commitFile'], 'a') if cfg.get('commitFile') else None

conf = {
    'bootstrap.servers': cfg['bootstrap'],
    'group.id': cfg['group'],
    'enable.auto.commit': False,
    'auto.offset.reset': 'earliest',
    'session.timeout.ms': 6000,
    'heartbeat.interval.ms': 300,
    'fetch.wait.max.ms': 100,
    'topic.metadata.refresh.interval.ms': 2000,
    'error_cb': lambda e: emit('cberror', code=e.code(), name=e.name(), str=e.str()),
}
conf.update(cfg.get('conf') or {})


def group_meta(c):
    """Generation, member id and instance id from librdkafka's serialized
    consumer group metadata: "CGMDv2:" <int32 generation> <group>\0 <member>\0
    <instance id is null> [<instance id>\0]."""
    b = c.consumer_group_metadata()
    assert b[:7] == b'CGMDv2:', b
    gen = struct.unpack('=i', b[7:11])[0]
    _group, rest = b[11:].split(b'\0', 1)
    member, rest = rest.split(b'\0', 1)
    instance = None if rest[0] else rest[1:].split(b'\0', 1)[0].decode()
    return {'gen': gen, 'member': member.decode(), 'instance': instance}


def parts(tps):
    return sorted(tp.partition for tp in tps)


def offsets(tps):
    return {str(tp.partition): tp.offset for tp in tps}


c = Consumer(conf)
emit('start')

if cfg.get('committedAtStart'):
    tps = [TopicPartition(t, p) for t, p in cfg['committedAtStart']]
    emit('committed', offsets=offsets(c.committed(tps, timeout=10)))

changed = [False]


def on_assign(consumer, tps):
    emit('assign', parts=parts(tps))
    changed[0] = True


def on_revoke(consumer, tps):
    emit('revoke', parts=parts(tps))
    changed[0] = True


def on_lost(consumer, tps):
    emit('lost', parts=parts(tps))
    changed[0] = True


c.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
commands = command_queue()
paused = set()

while True:
    cmd = next_command(commands)
    if cmd in ('close', 'eof'):
        c.close()
        emit('closed')
        sys.exit(0)
    elif cmd == 'committed':
        emit('committed', offsets=offsets(c.committed(c.assignment(), timeout=10)))
    elif cmd == 'gen':
        emit('gen', **group_meta(c))
    elif cmd is not None:
        emit('badcommand', cmd=cmd)

    m = c.poll(0.1)
    if changed[0]:
        changed[0] = False
        paused.clear()  # a new assignment starts unpaused
        emit('owned', parts=parts(c.assignment()), **group_meta(c))
    if m is None:
        continue
    err = m.error()
    if err is not None:
        if err.code() == KafkaError._PARTITION_EOF:
            emit('eof', p=m.partition(), o=m.offset())
        else:
            emit('error', code=err.code(), name=err.name(), str=err.str())
        continue
    p, o = m.partition(), m.offset()
    if p in limits and o >= limits[p]:
        if p not in paused:
            paused.add(p)
            c.pause([TopicPartition(m.topic(), p)])
            emit('atlimit', p=p, o=o)
        continue
    emit('rec', topic=m.topic(), p=p, o=o, v=m.value().decode() if m.value() is not None else None)
    if commit_mode == 'record':
        try:
            result = c.commit(message=m, asynchronous=False)
            failed = [tp for tp in result if tp.error is not None]
            if failed:
                emit('commitfail', p=p, o=o + 1, str=str(failed[0].error))
                continue
        except KafkaException as e:
            emit('commitfail', p=p, o=o + 1, str=str(e))
            continue
        if commit_file is not None:
            commit_file.write(json.dumps({'p': p, 'o': o + 1}) + '\n')
            commit_file.flush()
        emit('commit', p=p, o=o + 1)
