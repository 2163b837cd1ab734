"""Celery side of the benchmark: one process playing one role (worker, produce, roundtrip) for bench/run.ts.

Speaks JSON lines on stdout ({"event": "ready" | "progress" | "done", ...}) and reads "stop" on stdin.
The task is the same no-op every system runs: bench.add(x, y) -> x + y, counting completions in memory.
Run by the harness as: /usr/bin/python3 bench/python/celery_agent.py '<json params>'
"""
import json
import os
import sys
import threading
import time

from celery import Celery
from celery.signals import worker_ready

PARAMS = json.loads(sys.argv[1])
ROLE = PARAMS['role']
BACKEND = PARAMS.get('backend')

app = Celery('bench', broker=PARAMS['broker'], backend=BACKEND)
app.conf.update(
    task_ignore_result=BACKEND is None,
    task_default_queue=PARAMS['queue'],
    worker_prefetch_multiplier=PARAMS.get('prefetchMultiplier', 4),
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    worker_redirect_stdouts=False,
    broker_connection_retry_on_startup=True,
    result_expires=86400,
)

_lock = threading.Lock()
_state = {'done': 0, 'first': None, 'last': None}
_out = threading.Lock()


def emit(event, **fields):
    with _out:
        sys.stdout.write(json.dumps(dict(event=event, **fields)) + '\n')
        sys.stdout.flush()


@app.task(name='bench.add')
def add(x, y):
    now = time.time() * 1000
    with _lock:
        if _state['first'] is None:
            _state['first'] = now
        _state['done'] += 1
        _state['last'] = now
    return x + y


def report_progress():
    last_done = -1
    while True:
        time.sleep(0.05)
        with _lock:
            snapshot = dict(_state)
        if snapshot['done'] != last_done:
            last_done = snapshot['done']
            emit('progress', done=snapshot['done'], first=snapshot['first'], last=snapshot['last'])


def exit_on_stop():
    for line in sys.stdin:
        if line.strip() == 'stop':
            break
    os._exit(0)  # the harness is done with us: no graceful shutdown needed (Redis is flushed next)


@worker_ready.connect
def on_ready(**_kwargs):
    emit('ready', pid=os.getpid())


def run_worker():
    threading.Thread(target=report_progress, daemon=True).start()
    threading.Thread(target=exit_on_stop, daemon=True).start()
    argv = ['worker', '-P', PARAMS.get('pool', 'solo'), '-c', str(PARAMS.get('concurrency', 1)), '-Q', PARAMS['queue'],
            '-l', 'WARNING', '--without-gossip', '--without-mingle', '--without-heartbeat',
            '-n', 'bench%d@%%h' % os.getpid()]
    app.worker_main(argv=argv)


def produce():
    n, queue = PARAMS['n'], PARAMS['queue']
    threading.Thread(target=exit_on_stop, daemon=True).start()
    with app.connection() as conn:
        conn.ensure_connection(max_retries=3)
    add.apply_async((0, 0), queue=queue + '.warmup')  # connect and declare before timing, as the Node producers do
    started = time.perf_counter()
    if PARAMS['mode'] == 'bulk':
        # Celery has no bulk publish; the fastest of its ways (faster than group().apply_async) is one
        # producer, held for the whole batch, publishing each message in turn.
        chunk = PARAMS.get('chunk', 1000)
        for start in range(0, n, chunk):
            with app.producer_or_acquire() as producer:
                for i in range(start, min(n, start + chunk)):
                    add.apply_async((i, i), queue=queue, producer=producer)
                if PARAMS['broker'].startswith(('amqp', 'pyamqp')):
                    # No publisher confirms (kombu's default): a synchronous call on the same channel is
                    # answered only after RabbitMQ has taken every publish before it, so the batch is
                    # not still in flight when the process exits (30,000 sends once left 117 unqueued).
                    producer.channel.queue_declare(queue=queue, passive=True)
    else:
        threads = max(1, PARAMS.get('concurrency', 1))
        counter = iter(range(n))
        counter_lock = threading.Lock()

        def loop():
            while True:
                with counter_lock:
                    i = next(counter, None)
                if i is None:
                    return
                add.apply_async((i, i), queue=queue)

        pool = [threading.Thread(target=loop) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if PARAMS['broker'].startswith(('amqp', 'pyamqp')):
            # The same fence as the bulk mode's: kombu's producer pool is last-in first-out, so this
            # acquires the producer the sends just used, and a synchronous call on its channel returns
            # only once RabbitMQ has taken every publish before it (under load, 76 of 200 unconfirmed
            # sends were once still missing 5 s after the producer said done).
            with app.producer_or_acquire() as producer:
                producer.channel.queue_declare(queue=queue, passive=True)
    elapsed = (time.perf_counter() - started) * 1000
    # Close the pooled connections cleanly: without publisher confirms (kombu's default), an os._exit
    # right after the last publish can lose messages still unsent on a RabbitMQ socket.
    app.pool.force_close_all()
    emit('done', elapsedMs=elapsed)


def roundtrip():
    n, warmup, queue = PARAMS['n'], PARAMS.get('warmup', 100), PARAMS['queue']
    threading.Thread(target=exit_on_stop, daemon=True).start()
    latencies = []
    for i in range(warmup + n):
        started = time.perf_counter()
        value = add.apply_async((i, i), queue=queue).get(timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        if value != i + i:
            raise SystemExit('wrong result %r for add(%d, %d)' % (value, i, i))
        if i >= warmup:
            latencies.append(elapsed)
    emit('done', latenciesMs=latencies)


if __name__ == '__main__':
    {'worker': run_worker, 'produce': produce, 'roundtrip': roundtrip}[ROLE]()
    sys.stdout.flush()
    os._exit(0)
