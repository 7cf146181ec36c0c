"""Threads and fork."""
import errno
import os
import threading

import pytest

import spanheap


def test_threads_allocate_at_once(client):
    errors, offs = [], []

    def work():
        try:
            for _ in range(100):
                s = client.span(2)
                memoryview(s)[0] = 1
                offs.append(s.offset)
                s.free()
        except Exception as e:         # reported below
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert len(offs) == 400


def test_get_waits_without_holding_the_gil(daemon, client):
    waiter = spanheap.connect(daemon)
    got = []
    t = threading.Thread(target=lambda: got.append(
        waiter.get("late", timeout=30)))
    t.start()
    # This thread runs Python and uses the other connection meanwhile.
    o = client.create("late", 64)
    memoryview(o)[:3] = b"abc"
    o.seal()
    t.join()
    assert bytes(memoryview(got[0])[:3]) == b"abc"
    got[0].release()
    o.release()
    waiter.close()


def test_timed_get_in_thread_while_others_run(daemon, client):
    waiter = spanheap.connect(daemon)
    res = []

    def wait():
        try:
            waiter.get("never", timeout=0.5)
        except TimeoutError as e:
            res.append(e.errno)

    t = threading.Thread(target=wait)
    t.start()
    n = 0
    while t.is_alive():
        with client.span(1):
            n += 1
    t.join()
    assert res == [errno.ETIMEDOUT]
    assert n > 0
    waiter.close()


def test_fork_child_must_reconnect(daemon, client):
    s = client.span(1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            try:
                client.span(1)
                code = 1
            except OSError as e:
                if e.errno != errno.ENOTCONN or "connect" not in str(e):
                    code = 2
            try:
                memoryview(s)
                code = 3
            except OSError as e:
                code = code or (0 if e.errno == errno.ENOTCONN else 4)
            with spanheap.connect(daemon) as c2:
                c2.span(1).free()
            del s
        except BaseException:
            code = 5
        os.write(w, bytes([code]))
        os._exit(0)
    os.close(w)
    res = os.read(r, 1)
    os.waitpid(pid, 0)
    os.close(r)
    assert res == b"\x00"
    s.free()                           # the parent's span survived
