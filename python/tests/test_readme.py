"""python/README's five-line example, producer and consumer apart."""
import os
import subprocess
import sys

import spanheap

PKG = os.path.dirname(os.path.dirname(spanheap.__file__))
README = os.path.join(os.path.dirname(__file__), "..", "README")


def example_lines():
    lines = open(README).read().splitlines()
    start = lines.index("    import numpy as np, spanheap")
    return [l[4:] for l in lines[start:start + 5]]


def test_readme_example_shares_without_copy(daemon):
    imp, mk, cr, fill, get = example_lines()
    env = dict(os.environ, SPANHEAP_SOCKET=daemon)
    pre = "import sys; sys.path.insert(0, %r)\n" % PKG + imp + "\n"
    prod = pre + mk + "\n" + cr + "\n" + fill + "\n"
    cons = pre + mk + "\n" + get + "\n" + \
        "assert (b == a).all(); b[5] = -1; print(b[:6].tolist())\n"
    p = subprocess.run([sys.executable, "-c", prod], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    c = subprocess.run([sys.executable, "-c", cons], env=env,
                       capture_output=True, text=True, timeout=30)
    assert c.returncode == 0, c.stderr
    assert c.stdout.strip() == "[0.0, 1.0, 2.0, 3.0, 4.0, -1.0]"
    # A third process sees the consumer's write: the same memory.
    with spanheap.connect(daemon) as cl, cl.get("frame", timeout=0) as o:
        assert memoryview(o).cast("d")[5] == -1.0
