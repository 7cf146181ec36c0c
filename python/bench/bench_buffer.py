"""Bench: a written 1 MiB buffer through spanheap against SharedMemory.

Each op: allocate 1 MiB, fill it with numpy, free it.  spanheap: a
Span from a real spanheapd on a temp socket (the 256-page class comes
from the daemon: larger than the magazine's 64 pages).  SharedMemory:
create=True, fill, close, unlink, with its resource tracker running, as
users run it.  Prints the BENCH lines (median of 5 trials, us/op) and
RATIO py_buffer_vs_shared_memory (target <= 0.5) on stdout, as
bench/lib.c's programs do.  Usage: bench_buffer.py BUILD_DIR.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
sys.path.insert(0, os.path.join(BUILD, "python"))

import numpy as np  # noqa: E402
from multiprocessing import shared_memory  # noqa: E402

import spanheap  # noqa: E402

SIZE = 1 << 20
OPS = 200
TRIALS = 5


def start_daemon(d):
    sock = os.path.join(d, "s.sock")
    log = open(os.path.join(d, "spanheapd.log"), "wb")
    p = subprocess.Popen([os.path.join(BUILD, "spanheapd"),
                          "--socket=" + sock, "--arena-size=1G"],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(1000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(sock)
            return p, sock
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    p.kill()
    sys.exit("bench_buffer: spanheapd did not start; see its log in " + d)


def span_op(c, npages):
    s = c.span(npages)
    a = np.frombuffer(s, dtype=np.uint8)
    a.fill(1)
    del a
    s.free()


def shm_op():
    m = shared_memory.SharedMemory(create=True, size=SIZE)
    a = np.frombuffer(m.buf, dtype=np.uint8)
    a.fill(1)
    del a
    m.close()
    m.unlink()


def trial(fn):
    t0 = time.perf_counter_ns()
    for _ in range(OPS):
        fn()
    return (time.perf_counter_ns() - t0) / OPS / 1000.0


def main():
    with tempfile.TemporaryDirectory(prefix="spanheap-bench.") as d:
        p, sock = start_daemon(d)
        try:
            with spanheap.connect(sock) as c:
                npages = SIZE // c.page_size
                span_op(c, npages)
                shm_op()
                sp, sh = [], []
                for _ in range(TRIALS):   # interleaved: the same machine
                    sp.append(trial(lambda: span_op(c, npages)))
                    sh.append(trial(shm_op))
        finally:
            p.terminate()
            p.wait(60)
    a, b = statistics.median(sp), statistics.median(sh)
    print("BENCH py_span_1mib_fill_free %.1f us/op" % a)
    print("BENCH py_shared_memory_1mib_fill_free %.1f us/op" % b)
    print("RATIO py_buffer_vs_shared_memory %.3f" % (a / b))


if __name__ == "__main__":
    main()
