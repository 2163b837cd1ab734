"""Reads a result with Python Celery's AsyncResult.get (pub/sub waiting) and prints it as JSON.

Usage: read_result.py <task id> [timeout seconds]  (backend from CELERY_RESULT_BACKEND)
"""
import json
import sys

from interop_app import app

result = app.AsyncResult(sys.argv[1])
try:
    value = result.get(timeout=float(sys.argv[2]) if len(sys.argv) > 2 else 10, propagate=False)
    print(json.dumps({'state': result.state, 'value': value if result.state == 'SUCCESS' else None,
                      'exc_type': type(value).__name__ if result.state == 'FAILURE' else None,
                      'exc_message': str(value) if result.state == 'FAILURE' else None}))
except Exception as exc:  # noqa: BLE001 - report whatever went wrong to the test
    print(json.dumps({'error': '%s: %s' % (type(exc).__name__, exc)}))
