"""Client: connect, attributes, stats, scavenge, gc, close, errors."""
import errno
import os

import pytest

import spanheap


def test_connect_reports_the_arena(client):
    assert client.page_size == 4096
    assert client.arena_size == 1 << 30


def test_connect_takes_socket_from_environment(daemon, monkeypatch):
    monkeypatch.setenv("SPANHEAP_SOCKET", daemon)
    with spanheap.connect(name="envtest") as c:
        assert c.arena_size == 1 << 30
    assert c.closed


def test_connect_to_missing_socket_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as ei:
        spanheap.connect(str(tmp_path / "none.sock"))
    assert ei.value.errno == errno.ENOENT
    assert "connect" in str(ei.value)


def test_stats_is_memstats_dict(client):
    s = client.span(4)
    st = client.stats()
    assert isinstance(st, dict)
    assert "heap" in st or "arena" in st or len(st) > 3
    s.free()


def test_scavenge_and_gc_return_counts(client):
    s = client.span(300)
    s.free()
    assert client.scavenge() >= 0
    assert client.gc() >= 0


def test_closed_client_refuses_calls(client):
    client.close()
    client.close()		# idempotent
    with pytest.raises(ValueError):
        client.span(1)


def test_span_free_twice_raises(client):
    s = client.span(1)
    s.free()
    assert s.freed
    with pytest.raises(ValueError):
        s.free()


def test_bad_arguments_raise_value_error(client):
    with pytest.raises(ValueError):
        client.span(0)
    with pytest.raises(ValueError):
        client.create("x", 0)
    with pytest.raises(ValueError):
        client.get("x", timeout=-1)


def test_invalid_name_raises_with_errno(client):
    with pytest.raises(OSError) as ei:
        client.create("bad\nname", 10)
    assert ei.value.errno == errno.EINVAL


def test_arena_full_raises_memory_errno(client):
    with pytest.raises(OSError) as ei:
        client.span((client.arena_size // client.page_size) + 1)
    assert ei.value.errno in (errno.EINVAL, errno.ENOMEM)


def test_closing_frees_spans(daemon):
    c = spanheap.connect(daemon)
    s = c.span(1000)
    c.close()
    assert s.freed
    with pytest.raises(ValueError):
        memoryview(s)
    with spanheap.connect(daemon) as c2:
        assert c2.stats() is not None


def test_socket_refusing_user_raises_permission_error(daemon):
    # The temp dir is 0700 root's: another uid may not reach the socket.
    assert os.getuid() == 0, "make check runs as root on this project"
    os.chmod(os.path.dirname(daemon), 0o700)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setuid(65534)
            try:
                spanheap.connect(daemon)
            except PermissionError as e:
                code = 0 if e.errno == errno.EACCES else 2
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    res = os.read(r, 1)
    os.waitpid(pid, 0)
    os.close(r)
    assert res == b"\x00"
