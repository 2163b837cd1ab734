"""Celery app for the cross-language tests: the task names both sides register.

Broker and backend come from the environment (CELERY_BROKER_URL, CELERY_RESULT_BACKEND), so each
test points it at its own Redis db.  Run as a worker with
``/usr/bin/python3 -m celery -A interop_app worker --pool=solo`` from this folder.
"""
import os
import time

from celery import Celery

app = Celery('interop',
             broker=os.environ.get('CELERY_BROKER_URL', 'redis://127.0.0.1:6379/10'),
             backend=os.environ.get('CELERY_RESULT_BACKEND', 'redis://127.0.0.1:6379/10'))
app.conf.worker_hijack_root_logger = False
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


@app.task(name='interop.retry_once', bind=True)
def retry_once(self, key):
    if self.request.retries < 1:
        raise self.retry(countdown=1)
    return 'retried'


@app.task(name='interop.sum_list')
def sum_list(values):
    return sum(values)
