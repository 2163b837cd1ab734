"""Sends interop tasks from Python Celery (no worker needed) and prints their ids as JSON lines.

Usage: produce.py  (broker from CELERY_BROKER_URL)
"""
import json

from interop_app import add, app, echo

calls = [
    ('plain', add.delay(2, 3)),
    ('kwargs', add.apply_async(kwargs={'x': 4, 'y': 5})),
    ('countdown', add.apply_async((1, 1), countdown=2)),
    ('priority', add.apply_async((6, 6), priority=5)),
    ('unicode', echo.delay({'text': 'Zoë ☃ 日本語 🎉', 'nested': {'list': [1, 2.5, None, True, [3, {'k': 'v'}]], 'big': 9007199254740993}})),
    ('by-name', app.send_task('interop.sum_list', args=([1, 2, 3],))),
]
for label, result in calls:
    print(json.dumps({'label': label, 'id': result.id}))
