"""Defect 1 of the hostile-input review: a 1 KB payload crashed the worker.

About 250 nested tuples (each a msgpack extension value) encoded fine, then decoding
recursed through the extension hook in C until the process died with SIGSEGV. Each
case runs in a child process, so a crash is a failed test, not a dead pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from asynctasq.serialization import PayloadLimitError, dumps

pytestmark = pytest.mark.timeout(60)


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=50,
    )


def assert_survived(child: subprocess.CompletedProcess[str], expected: str) -> None:
    assert child.returncode == 0, (
        f"the child died (exit {child.returncode}; -11 is SIGSEGV):\n{child.stderr[-2000:]}"
    )
    assert expected in child.stdout, child.stdout + child.stderr


def test_a_forged_payload_of_250_nested_tuples_is_refused_not_a_segfault() -> None:
    child = run_child(
        """
        import msgpack
        from asynctasq.serialization import DecodeError, loads
        data = msgpack.packb(1)
        for _ in range(250):  # a tuple is extension 9 holding an array
            data = msgpack.packb(msgpack.ExtType(9, msgpack.packb([msgpack.ExtType(9, data)])))
        try:
            loads(data)
        except DecodeError as exc:
            print("refused:", exc)
        """
    )
    assert_survived(child, "refused: the payload is nested more than 64 levels deep")


def test_the_same_value_is_refused_at_dispatch_time() -> None:
    value: object = 1
    for _ in range(250):
        value = (value,)
    with pytest.raises(PayloadLimitError, match="more than 64 levels deep"):
        dumps({"arg": value})


def test_deep_lists_between_hooked_values_cannot_overflow_the_encoder() -> None:
    # msgpack's packer recurses in C through lists (up to 511 deep) and through our
    # hooks: 60 tuples, each around 500 nested lists, overflowed the C stack
    child = run_child(
        """
        from asynctasq.serialization import PayloadLimitError, dumps
        value = 1
        for _ in range(60):
            for _ in range(500):
                value = [value]
            value = (value,)
        try:
            dumps(value)
        except PayloadLimitError as exc:
            print("refused:", exc)
        """
    )
    assert_survived(child, "refused: the value is nested more than 64 levels deep")


def test_the_deepest_setting_decodes_within_a_small_thread_stack() -> None:
    # 128 levels of tuples, decoded in a thread with a 512 KiB stack (musl's threads
    # get 128 KiB by default, macOS's 512 KiB): each msgpack.unpackb keeps ~40 kB on
    # the C stack, so only the first levels may use it
    child = run_child(
        """
        import threading
        from asynctasq.serialization import Serializer
        serializer = Serializer(max_depth=128)
        value = 1
        for _ in range(128):
            value = (value, "x")
        data = serializer.dumps(value)
        out = []
        threading.stack_size(512 * 1024)
        thread = threading.Thread(target=lambda: out.append(serializer.loads(data) == value))
        thread.start()
        thread.join()
        print("decoded:", out)
        """
    )
    assert_survived(child, "decoded: [True]")
