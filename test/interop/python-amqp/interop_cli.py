"""Drives the Python side of the AMQP interop tests; prints one JSON object per line on stdout.

  produce <queue>              send a fixed set of tasks to <queue>, print their ids and options
  call <queue> <task> <json>   send <task>(*args) to <queue> with rpc://, print {"id"}, then wait and
                               print {"state", "result"} (or {"state", "exc_type", "exc_message"})
"""
import datetime
import json
import sys

from interop_app import add, app, echo, fail  # noqa: F401  (registers the tasks)


def out(obj):
    print(json.dumps(obj), flush=True)


def produce(queue):
    sent = {}
    r = add.apply_async(kwargs={'x': 2, 'y': 3}, queue=queue)
    sent['kwargs'] = {'id': r.id}
    r = add.apply_async((4, 5), countdown=30, queue=queue)
    sent['countdown'] = {'id': r.id}
    r = add.apply_async((6, 7), priority=7, queue=queue)
    sent['priority'] = {'id': r.id}
    r = echo.apply_async(({'text': 'Zoë ☃ 🎉', 'n': 2 ** 40, 'neg': -5},), queue=queue,
                         headers={'x-request-id': 'req-ü', 'tenant': 42})
    sent['unicode'] = {'id': r.id}
    r = add.apply_async((1, 1), expires=600, queue=queue)
    sent['expires'] = {'id': r.id}
    out({'sent': sent, 'reply_to': app.thread_oid, 'now': datetime.datetime.utcnow().isoformat()})


def call(queue, task, args_json):
    r = app.send_task(task, args=json.loads(args_json), queue=queue)
    out({'id': r.id, 'reply_to': app.thread_oid})
    try:
        value = r.get(timeout=60, propagate=True)
        out({'state': r.state, 'result': value})
    except Exception as exc:  # the test asserts on what comes back
        out({'state': r.state, 'exc_type': type(exc).__name__, 'exc_message': str(exc)})


if __name__ == '__main__':
    command = sys.argv[1]
    if command == 'produce':
        produce(sys.argv[2])
    elif command == 'call':
        call(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f'unknown command {command}')
