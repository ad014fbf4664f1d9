# One kafka-python 2.0.2 KafkaConsumer group member, driven by the test.
# argv[1] is JSON:
#   bootstrap, group, topics        what to join and subscribe to
#   reset                           auto_offset_reset ('earliest' | 'latest' | 'none')
#   commit: 'record' | 'close' | 'none'
#                                   'record': commit synchronously after each record;
#                                   'close': commit the consumed positions on close
#   kwargs                          extra KafkaConsumer arguments
# Events are JSON lines on stdout; commands on stdin:
#   close       (commit,) close and exit
#   committed   report committed() for the current assignment
# After each assignment change it reports the assignment, the generation and
# where each assigned partition starts (the committed offset or auto_offset_reset's).
import sys

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from common import command_queue, config, emit, next_command

cfg = config()
commit_mode = cfg.get('commit', 'record')
kwargs = dict(
    bootstrap_servers=cfg['bootstrap'],
    group_id=cfg['group'],
    enable_auto_commit=False,
    auto_offset_reset=cfg.get('reset', 'earliest'),
    session_timeout_ms=6000,
    heartbeat_interval_ms=300,
    fetch_max_wait_ms=100,
    metadata_max_age_ms=2000,
)
kwargs.update(cfg.get('kwargs') or {})
c = KafkaConsumer(**kwargs)
emit('start')

changed = [False]


def parts(tps):
    return sorted(tp.partition for tp in tps)


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        emit('revoke', parts=parts(revoked))
        changed[0] = True

    def on_partitions_assigned(self, assigned):
        emit('assign', parts=parts(assigned))
        changed[0] = True


def generation():
    g = getattr(c._coordinator, '_generation', None)
    return (g.generation_id, g.member_id) if g is not None else (None, None)


c.subscribe(cfg['topics'], listener=Listener())
commands = command_queue()

while True:
    cmd = next_command(commands)
    if cmd in ('close', 'eof'):
        if commit_mode == 'close':
            c.commit()
            emit('commit', offsets={str(tp.partition): c.committed(tp) for tp in c.assignment()})
        c.close(autocommit=False)
        emit('closed')
        sys.exit(0)
    elif cmd == 'committed':
        emit('committed', offsets={str(tp.partition): c.committed(tp) for tp in c.assignment()})
    elif cmd is not None:
        emit('badcommand', cmd=cmd)

    try:
        batch = c.poll(timeout_ms=100)
    except KafkaError as e:
        emit('error', name=type(e).__name__, str=str(e))
        continue
    if changed[0]:
        changed[0] = False
        gen, member = generation()
        assigned = c.assignment()
        try:
            # Where each partition started: the first record this poll returned, else the position.
            positions = {str(tp.partition): batch[tp][0].offset if batch.get(tp) else c.position(tp) for tp in assigned}
        except KafkaError as e:
            emit('error', name=type(e).__name__, str=str(e))
            positions = None
        emit('owned', parts=parts(assigned), gen=gen, member=member, positions=positions)
    for tp, records in batch.items():
        for m in records:
            emit('rec', topic=m.topic, p=m.partition, o=m.offset, v=m.value.decode() if m.value is not None else None)
            if commit_mode == 'record':
                try:
                    c.commit({tp: OffsetAndMetadata(m.offset + 1, '')})
                    emit('commit', p=m.partition, o=m.offset + 1)
                except KafkaError as e:
                    emit('commitfail', p=m.partition, o=m.offset + 1, str=str(e))
