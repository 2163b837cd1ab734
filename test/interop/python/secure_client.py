"""The Python side of the signing interop tests; prints one JSON object per line.

  run <queue>        (secure_app) send add, echo (unicode, nested) and sum_list signed to <queue>,
                     print {"sent": {label: id}}, then each {"label", "state", "value"} once done
  send <queue>       (secure_app) send one signed interop.add(2, 3), print {"id": ...}, wait for nothing
  unsigned <queue>   (interop_app, no security) the same, unsigned
(broker and backend from CELERY_BROKER_URL / CELERY_RESULT_BACKEND; keys from SECURITY_* for secure_app)
"""
import json
import sys

NESTED = {'text': 'Zoë ☃ 日本語 🎉', 'nested': {'list': [1, 2.5, None, True, [3, {'k': 'v'}]], 'big': 9007199254740993}}


def out(obj):
    print(json.dumps(obj), flush=True)


def run(queue):
    from secure_app import tasks
    calls = [
        ('add', tasks.add.apply_async((2, 3), queue=queue)),
        ('echo', tasks.echo.apply_async((NESTED,), queue=queue)),
        ('sum', tasks.sum_list.apply_async(([1, 2, 3],), queue=queue)),
    ]
    out({'sent': {label: r.id for label, r in calls}})
    for label, r in calls:
        value = r.get(timeout=30)
        out({'label': label, 'state': r.state, 'value': value})


def send(queue, module):
    tasks = __import__(module).tasks
    out({'id': tasks.add.apply_async((2, 3), queue=queue).id})


if __name__ == '__main__':
    command, queue = sys.argv[1], sys.argv[2]
    if command == 'run':
        run(queue)
    elif command == 'send':
        send(queue, 'secure_app')
    elif command == 'unsigned':
        send(queue, 'interop_app')
    else:
        raise SystemExit('unknown command %s' % command)
