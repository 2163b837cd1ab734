"""Celery app for the AMQP interop tests; the tasks come from ../python-common/interop_tasks.py.
Broker and result backend from the environment:

  CELERY_BROKER_URL      default amqp://guest:guest@127.0.0.1:5672//
  CELERY_RESULT_BACKEND  default rpc://
  INTEROP_QUEUE          default queue for tasks sent from here (default "celery")
"""
import os
import sys

from celery import Celery

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python-common'))
from interop_tasks import register  # noqa: E402  (needs the path above)

app = Celery(
    'interop',
    broker=os.environ.get('CELERY_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
    backend=os.environ.get('CELERY_RESULT_BACKEND', 'rpc://'),
)
app.conf.task_default_queue = os.environ.get('INTEROP_QUEUE', 'celery')
# Keep the broker quiet and the test fast: no events, one task at a time.
app.conf.worker_prefetch_multiplier = 1
app.conf.worker_send_task_events = False
app.conf.broker_connection_retry_on_startup = True

tasks = register(app)
add, echo, fail, sleep = tasks.add, tasks.echo, tasks.fail, tasks.sleep
