"""The buffer protocol and the export rules."""
import gc

import numpy as np
import pytest

import spanheap


def test_span_buffer_is_writable_bytes(client):
    s = client.span(3, zero=True)
    assert s.npages == 4 and len(s) == 4 * 4096
    m = memoryview(s)
    assert m.format == "B" and m.itemsize == 1 and m.ndim == 1
    assert not m.readonly and m.nbytes == len(s)
    assert bytes(m[:16]) == bytes(16)
    m[0] = 7
    m.release()
    s.free()


def test_free_with_memoryview_raises_buffer_error(client):
    s = client.span(1)
    m = memoryview(s)
    m[:4] = b"abcd"
    with pytest.raises(BufferError):
        s.free()
    assert bytes(m[:4]) == b"abcd"     # still mapped, still ours
    with pytest.raises(BufferError):
        client.close()
    m.release()
    s.free()


def test_free_with_ndarray_raises_until_it_dies(client):
    s = client.span(1)
    a = np.frombuffer(s, dtype=np.uint32)
    a[:] = 5
    with pytest.raises(BufferError):
        s.free()
    b = a[10:20]                       # a view of the view
    del a
    with pytest.raises(BufferError):
        s.free()
    assert (b == 5).all()
    del b
    gc.collect()
    s.free()


def test_two_spans_do_not_alias(client):
    s1, s2 = client.span(1, zero=True), client.span(1, zero=True)
    assert s1.offset != s2.offset
    memoryview(s1)[0] = 1
    assert memoryview(s2)[0] == 0
    s1.free()
    s2.free()


def test_release_with_export_raises_buffer_error(client):
    o = client.create("exp", 100)
    v = memoryview(o)
    assert len(v) == 100
    with pytest.raises(BufferError):
        o.release()
    v.release()
    o.release()
    with pytest.raises(ValueError):
        memoryview(o)


def test_context_managers_free_and_release(client):
    with client.span(1) as s:
        memoryview(s)[0] = 1
    assert s.freed
    with client.create("ctx", 10) as o:
        pass
    assert o.released


def test_collected_span_is_freed(client):
    before = client.stats()["heap_inuse"]
    for _ in range(50):
        client.span(200)               # collected at once, freed
    assert client.stats()["heap_inuse"] == before
    s = client.span(200)
    assert client.stats()["heap_inuse"] == before + len(s)
    del s
    assert client.stats()["heap_inuse"] == before


def test_span_keeps_client_alive(daemon):
    s = spanheap.connect(daemon).span(1)
    memoryview(s)[0] = 9               # the Client object is gone
    assert memoryview(s)[0] == 9
    s.free()
