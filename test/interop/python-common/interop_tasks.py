"""The interop task definitions, shared by the Redis (python/) and AMQP (python-amqp/) Celery apps so
both register exactly the names the Node side defines: interop.add, echo, fail, sleep, retry_once,
sum_list and record.  Each app module keeps its own broker defaults and calls ``register(app)``.
"""
import os
import time
from types import SimpleNamespace

_recorder = None


def _record_client(app):
    """redis-py client for interop.record: INTEROP_RECORD_URL, else the app's Redis result backend."""
    global _recorder
    if _recorder is None:
        import redis  # only the Redis tests call interop.record; the AMQP ones never import redis
        _recorder = redis.Redis.from_url(os.environ.get('INTEROP_RECORD_URL') or app.conf.result_backend)
    return _recorder


def register(app):
    """Defines the interop tasks on ``app`` and returns them by name (add, echo, fail, ...)."""

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

    @app.task(name='interop.record')
    def record(key, token, seconds=0):
        # Who ran what: the mixed-deployment test counts these to prove each task ran exactly once.
        if seconds:
            time.sleep(seconds)
        _record_client(app).rpush(key, 'py:%s' % token)
        return token

    return SimpleNamespace(add=add, echo=echo, fail=fail, sleep=sleep, retry_once=retry_once,
                           sum_list=sum_list, record=record)
