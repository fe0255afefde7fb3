"""The allocator setting the worker applies at start: large blocks go back to the system."""

from __future__ import annotations

import subprocess
import sys

from core.malloc import return_large_blocks


def test_applies_on_glibc() -> None:
    assert return_large_blocks() is True  # this project's machines and images run glibc


CODE = """
import gc, resource, sys
from core.malloc import return_large_blocks
if sys.argv[1] == "on":
    return_large_blocks()
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize()
x = bytearray(1 << 24); del x  # a freed mapped block: glibc raises its threshold past it
base = rss()
blocks, pins = [], []
for _ in range(25):
    b = bytearray(1 << 23); b[::4096] = b'x' * len(b[::4096]); blocks.append(b)
    pins.append(bytearray(1_600_000))  # survivors between them keep the heap from shrinking
peak = rss()
del blocks, b
gc.collect()
print(base, peak, rss())
"""


def rss_after_free(setting: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", CODE, setting], capture_output=True, text=True, check=True
    ).stdout
    base, peak, after = (int(x) for x in out.split())
    return base, peak, after


def test_freed_large_blocks_leave_the_process() -> None:
    """200 MB in 8 MB blocks, freed among smaller survivors (40 MB): with the setting the
    resident size falls back to about the survivors; with glibc's default it stays high."""
    base, peak, after = rss_after_free("on")
    assert peak - base > 200e6 and after - base < 80e6
    base, peak, after = rss_after_free("off")
    assert after - base > 200e6  # the default keeps them: what the setting is for
