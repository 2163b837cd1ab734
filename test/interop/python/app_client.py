"""The Python side of the app-level Redis interop tests; prints one JSON object per line.

  scenario <queue>            send plain, kwargs, countdown, priority, unicode/nested, failing and
                              retrying calls to <queue>, print {"sent": {label: id}}, then wait for each
                              with AsyncResult.get and print {"label", "state", "value" | "exc_type",
                              "exc_message"} per call
  mixed <queue> <n> <key>     send n interop.record tasks, print {"sent": [tokens]}, wait for all of
                              them and print {"done": n, "values": [...]}
(broker and backend from CELERY_BROKER_URL / CELERY_RESULT_BACKEND)
"""
import json
import sys

from interop_app import add, echo, fail, record, retry_once

NESTED = {'text': 'Zoë ☃ 日本語 🎉', 'nested': {'list': [1, 2.5, None, True, [3, {'k': 'v'}]], 'big': 9007199254740993}}


def out(obj):
    print(json.dumps(obj), flush=True)


def outcome(label, result, timeout=30):
    value = result.get(timeout=timeout, propagate=False)
    if result.state == 'SUCCESS':
        return {'label': label, 'state': result.state, 'value': value}
    return {'label': label, 'state': result.state, 'exc_type': type(value).__name__, 'exc_message': str(value)}


def scenario(queue):
    calls = [
        ('plain', add.apply_async((2, 3), queue=queue)),
        ('kwargs', add.apply_async(kwargs={'x': 4, 'y': 5}, queue=queue)),
        ('countdown', add.apply_async((1, 1), countdown=1.5, queue=queue)),
        ('priority', add.apply_async((6, 6), priority=5, queue=queue)),
        ('unicode', echo.apply_async((NESTED,), queue=queue)),
        ('fail', fail.apply_async(('boom ☃',), queue=queue)),
        ('retry', retry_once.apply_async(('k',), queue=queue)),
    ]
    out({'sent': {label: r.id for label, r in calls}})
    for label, r in calls:
        out(outcome(label, r))


def mixed(queue, n, key):
    tokens = ['py-%d' % i for i in range(n)]
    results = [record.apply_async((key, token, 0.01), queue=queue) for token in tokens]
    out({'sent': tokens})
    values = [r.get(timeout=60) for r in results]
    out({'done': len(values), 'values': values})


if __name__ == '__main__':
    if sys.argv[1] == 'scenario':
        scenario(sys.argv[2])
    elif sys.argv[1] == 'mixed':
        mixed(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit('unknown command %s' % sys.argv[1])
