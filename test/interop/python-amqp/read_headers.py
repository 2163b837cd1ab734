"""Reads one message from a queue with py-amqp (Celery's AMQP client) and prints its headers with the
Python type of each value, so the test can check how our header encoding looks from Python."""
import json
import os
import sys

import amqp

queue = sys.argv[1]
conn = amqp.Connection(host='127.0.0.1:5672', userid='guest', password='guest', virtual_host='/')
conn.connect()
ch = conn.channel()
msg = ch.basic_get(queue, no_ack=True)


def typed(v):
    if isinstance(v, list):
        return ['list', [typed(x) for x in v]]
    if isinstance(v, dict):
        return ['dict', {k: typed(x) for k, x in v.items()}]
    return [type(v).__name__, v]


print(json.dumps({
    'headers': {k: typed(v) for k, v in msg.properties['application_headers'].items()},
    'priority': msg.properties.get('priority'),
    'delivery_mode': msg.properties.get('delivery_mode'),
    'content_type': msg.properties.get('content_type'),
}))
conn.close()
