# Shared by the group-test helpers: JSON-line events on stdout and commands
# read from stdin on a background thread (the client itself stays on the
# main thread, between polls).
import json
import queue
import sys
import threading
import time

_T0 = time.time()


def emit(ev, **fields):
    fields['ev'] = ev
    fields['t'] = round((time.time() - _T0) * 1000)
    sys.stdout.write(json.dumps(fields) + '\n')
    sys.stdout.flush()


def command_queue():
    """Lines from stdin, one command each; 'eof' when stdin closes."""
    q = queue.Queue()

    def reader():
        for line in sys.stdin:
            line = line.strip()
            if line:
                q.put(line)
        q.put('eof')

    threading.Thread(target=reader, daemon=True).start()
    return q


def next_command(q):
    try:
        return q.get_nowait()
    except queue.Empty:
        return None


def config():
    return json.loads(sys.argv[1])
