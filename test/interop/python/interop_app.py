"""Celery app for the Redis cross-language tests; the tasks come from ../python-common/interop_tasks.py.

Broker and backend come from the environment (CELERY_BROKER_URL, CELERY_RESULT_BACKEND), so each
test points it at its own Redis db.  Run as a worker with
``/usr/bin/python3 -m celery -A interop_app worker --pool=solo`` from this folder.
"""
import os
import sys

from celery import Celery

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python-common'))
from interop_tasks import register  # noqa: E402  (needs the path above)

app = Celery('interop',
             broker=os.environ.get('CELERY_BROKER_URL', 'redis://127.0.0.1:6379/10'),
             backend=os.environ.get('CELERY_RESULT_BACKEND', 'redis://127.0.0.1:6379/10'))
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True

tasks = register(app)
add, echo, fail, sleep = tasks.add, tasks.echo, tasks.fail, tasks.sleep
retry_once, sum_list, record = tasks.retry_once, tasks.sum_list, tasks.record
