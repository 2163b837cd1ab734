"""Celery app with message signing (``setup_security``) for the signing interop tests.

Signs with SECURITY_KEY / SECURITY_CERT and accepts only messages signed by a certificate in
SECURITY_STORE (a directory), as Celery's docs set it up: task_serializer 'auth', accept_content
['auth'].  Results stay JSON (Celery 5.2's default result_serializer), so a client must also accept
JSON results: result_accept_content ['json'] (without it, Celery's own AsyncResult.get refuses them
with ContentDisallowed, since result_accept_content falls back to accept_content).
Broker and backend come from CELERY_BROKER_URL / CELERY_RESULT_BACKEND.  Run as a worker with
``/usr/bin/python3 -m celery -A secure_app worker --pool=solo`` from this folder.
"""
import os
import sys

from celery import Celery

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python-common'))
from interop_tasks import register  # noqa: E402  (needs the path above)

app = Celery('interop-secure',
             broker=os.environ['CELERY_BROKER_URL'],
             backend=os.environ['CELERY_RESULT_BACKEND'])
app.conf.update(
    security_key=os.environ['SECURITY_KEY'],
    security_certificate=os.environ['SECURITY_CERT'],
    security_cert_store=os.environ['SECURITY_STORE'],
    security_digest='sha256',
    task_serializer='auth',
    accept_content=['auth'],
    result_accept_content=['json'],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
app.setup_security()

tasks = register(app)
