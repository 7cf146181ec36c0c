"""The package imports and connects."""
import spanheap


def test_connect_reports_the_arena(client):
    assert client.page_size == 4096
    assert client.arena_size == 1 << 30
