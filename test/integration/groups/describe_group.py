# What the coordinator says about a group, through confluent-kafka's
# AdminClient.list_groups (ListGroups + DescribeGroups): state, protocol and
# each member's assignment, decoded from the consumer protocol's bytes.
# argv: bootstrap group [group ...]. Prints one JSON object per line.
import json
import struct
import sys

from confluent_kafka.admin import AdminClient


def decode_assignment(b):
    """ConsumerProtocolAssignment: int16 version, [topic: string, [int32]], bytes user_data."""
    if not b:
        return {}
    of = 2
    out = {}
    (n,) = struct.unpack_from('>i', b, of)
    of += 4
    for _ in range(max(n, 0)):
        (tlen,) = struct.unpack_from('>h', b, of)
        of += 2
        topic = b[of:of + tlen].decode()
        of += tlen
        (pn,) = struct.unpack_from('>i', b, of)
        of += 4
        out[topic] = sorted(struct.unpack_from('>%di' % pn, b, of)) if pn > 0 else []
        of += 4 * max(pn, 0)
    return out


admin = AdminClient({'bootstrap.servers': sys.argv[1]})
all_groups = sorted(g.id for g in admin.list_groups(timeout=10))
for group in sys.argv[2:]:
    found = admin.list_groups(group=group, timeout=10)
    if not found:
        print(json.dumps({'group': group, 'missing': True, 'listed': group in all_groups}))
        continue
    g = found[0]
    print(json.dumps({
        'group': g.id,
        'listed': group in all_groups,
        'error': str(g.error) if g.error else None,
        'state': g.state,
        'protocolType': g.protocol_type,
        'protocol': g.protocol,
        'members': [{'id': m.id, 'clientId': m.client_id, 'assignment': decode_assignment(m.assignment)} for m in g.members],
    }))
