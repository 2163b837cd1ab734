"""Celery app for the AMQP interop tests: the tasks both sides register (interop.add, interop.echo,
interop.fail, interop.sleep), broker and result backend from the environment.

  CELERY_BROKER_URL      default amqp://guest:guest@127.0.0.1:5672//
  CELERY_RESULT_BACKEND  default rpc://
  INTEROP_QUEUE          default queue for tasks sent from here (default "celery")
"""
import os
import time

from celery import Celery

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


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(name='interop.echo')
def echo(value):
    return value


@app.task(name='interop.fail')
def fail(msg):
    raise ValueError(msg)


@app.task(name='interop.sleep')
def sleep(seconds):
    time.sleep(seconds)
    return seconds
