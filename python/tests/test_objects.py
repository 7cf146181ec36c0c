"""Objects: create/seal/get/release/delete and their errors."""
import errno
import json
import subprocess
import sys
import textwrap
import os

import numpy as np
import pytest

import spanheap

PKG = os.path.dirname(os.path.dirname(spanheap.__file__))


def test_create_seal_get_release(client):
    o = client.create("obj1", 10000, zero=True)
    assert o.name == "obj1" and o.size == 10000 and len(o) == 10000
    assert o.id > 0 and o.offset % client.page_size == 0
    memoryview(o)[:5] = b"hello"
    o.seal()
    g = client.get("obj1", timeout=0)
    assert g.id == o.id
    assert bytes(memoryview(g)[:5]) == b"hello"
    g.release()
    o.release()
    client.delete("obj1")


def test_live_name_raises_file_exists(client):
    o = client.create("dup", 10)
    with pytest.raises(FileExistsError) as ei:
        client.create("dup", 10)
    assert ei.value.errno == errno.EEXIST
    o.release()


def test_get_without_wait_raises_file_not_found(client):
    with pytest.raises(FileNotFoundError):
        client.get("nothing", timeout=0)


def test_get_with_timeout_raises_timeout_error(client):
    with pytest.raises(TimeoutError) as ei:
        client.get("nothing", timeout=0.05)
    assert ei.value.errno == errno.ETIMEDOUT


def test_delete_missing_raises_file_not_found(client):
    with pytest.raises(FileNotFoundError):
        client.delete("nothing")


def test_seal_twice_raises(client):
    o = client.create("twice", 10)
    o.seal()
    with pytest.raises(OSError) as ei:
        o.seal()
    assert ei.value.errno == errno.EALREADY
    o.release()


PRODUCER = """
import sys
sys.path.insert(0, %(path)r)
import numpy as np, spanheap
c = spanheap.connect(%(sock)r)
o = c.create("frame", 8 * 1000)
a = np.frombuffer(o, dtype=np.float64)
a[:] = np.arange(1000)
o.seal()
sys.stdout.write("sealed\\n"); sys.stdout.flush()
if %(wait)r:
    sys.stdin.readline()           # the consumer wrote into it
    print(float(a[0]))
"""


def test_two_processes_share_a_numpy_array(daemon, client):
    p = subprocess.Popen([sys.executable, "-c", PRODUCER % {
        "path": PKG, "sock": daemon, "wait": True}],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "sealed\n"
    o = client.get("frame", timeout=10)
    a = np.frombuffer(o, dtype=np.float64)
    assert (a == np.arange(1000)).all()
    a[0] = 42.0                        # written here, seen there
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.stdout.readline() == "42.0\n"
    assert p.wait(30) == 0
    del a
    o.release()


def test_consumer_reads_after_producer_exits(daemon, client):
    p = subprocess.run([sys.executable, "-c", PRODUCER % {
        "path": PKG, "sock": daemon, "wait": False}],
        capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    with client.get("frame", timeout=0) as o:
        a = np.frombuffer(o, dtype=np.float64)
        assert a[999] == 999.0
        del a


def _objects_stats(client):
    return client.stats()["objects"]


def test_evictable_flag_reaches_the_daemon(daemon, client):
    """evictable=True makes a candidate once sealed and unheld; False not."""
    plain = client.create("plain", 100)
    cache = client.create("cache", 3 * client.page_size, evictable=True)
    for o in (plain, cache):
        o.seal()
    assert _objects_stats(client)["evictable"] == 0   # both held
    plain.release()
    cache.release()
    st = _objects_stats(client)
    assert st["evictable"] == 1
    assert st["evictable_bytes"] == 3 * client.page_size
    assert st["evicted"] == 0
    # A get takes it off the list again; spanctl marks it.
    g = client.get("cache", timeout=0)
    assert _objects_stats(client)["evictable"] == 0
    out = subprocess.run([os.environ.get("SPANCTL", os.path.join(
        os.path.dirname(PKG), "spanctl")), "--socket=" + daemon,
        "objects", "--json"], check=True, capture_output=True).stdout
    listed = {o["name"]: o["evictable"]
              for o in json.loads(out)["objects"]}
    assert listed == {"plain": False, "cache": True}
    g.release()
    client.delete("cache")
    client.delete("plain")


def test_evictable_is_a_bool_keyword(client):
    with pytest.raises(TypeError):
        client.create("x", 10, False, True, 1)
    o = client.create("kw", 10, zero=True, evictable=True)
    assert o.size == 10 and bytes(memoryview(o)) == bytes(10)
    o.release()
