"""Fixtures: a real spanheapd on a socket in a temp dir, and its clients.

SPANHEAP_BUILD names the build directory (default ../../build); the
package is imported from $SPANHEAP_BUILD/python (make check builds it).
"""
import os
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(os.environ.get("SPANHEAP_BUILD",
                                       os.path.join(HERE, "..", "..",
                                                    "build")))
sys.path.insert(0, os.path.join(BUILD, "python"))


def _can_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture
def daemon(tmp_path):
    """Start build/spanheapd --socket=TMP/spanheapd.sock; yield the path."""
    sock = str(tmp_path / "spanheapd.sock")
    log = open(tmp_path / "spanheapd.log", "wb")
    proc = subprocess.Popen([os.path.join(BUILD, "spanheapd"),
                             "--socket=" + sock, "--arena-size=1G"],
                            stdout=log, stderr=subprocess.STDOUT)
    # Up to 20 s, as tests/lib/daemon.c: sanitizer builds start slowly.
    for _ in range(2000):
        if _can_connect(sock):
            break
        if proc.poll() is not None:
            pytest.fail("spanheapd exited at start; see %s" % log.name)
        time.sleep(0.01)
    else:
        proc.kill()
        pytest.fail("spanheapd did not start listening")
    yield sock
    proc.terminate()
    proc.wait(60)
    log.close()


@pytest.fixture
def client(daemon):
    """A Client connected to the test daemon, closed afterwards."""
    import spanheap
    c = spanheap.connect(daemon)
    yield c
    c.close()


def pytest_terminal_summary(terminalreporter):
    """End with the "N passed, M failed" line tests/lib/suite.sh counts."""
    st = terminalreporter.stats
    bad = sum(len(st.get(k, [])) for k in ("failed", "error"))
    # A skip is a failure here: every test must run.
    bad += len(st.get("skipped", []))
    terminalreporter.write_line("%d passed, %d failed"
                                % (len(st.get("passed", [])), bad))
