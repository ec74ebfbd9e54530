"""The runtime prelude of reproduction scripts: code every generated script carries.

Not imported by skillforge: :mod:`skillforge.analyze.repro.emit` reads this
file as text (package data) and copies its sections into each script. A section
runs from its ``# section: NAME`` line to the next one; ``helpers`` and
``main`` go into every script, ``fixture`` into scripts that set fixtures up,
and one section per built-in fixture (``tmp_path``, ``tmp_path_factory``,
``monkeypatch``, ``capsys``) into the scripts that use it. The script defines
``_sf_reproduce`` (the test run) between the helpers and ``main``. The lines
above the first section are not copied: they bind what a script binds itself,
so that this file is valid Python, checked like any other module.

Every name a section defines starts with ``_sf_`` (or ``_Sf``) so that it
cannot clash with the test's code.
"""

import os as _sf_os
import sys as _sf_sys


def _sf_reproduce():
    """Stands for the script's own: set the fixtures up, run the test, tear them down."""


# section: helpers
def _sf_call(_fn, *_args):
    """Call a setup/teardown hook with its optional argument, as pytest does."""
    import inspect

    try:
        _n = len(inspect.signature(_fn).parameters)
    except (TypeError, ValueError):
        _n = len(_args)
    return _fn(*_args[:_n])


def _sf_await(_result):
    import inspect

    if inspect.isawaitable(_result):
        import asyncio

        async def _sf_main():
            return await _result

        return asyncio.run(_sf_main())
    return _result


# section: fixture
def _sf_fixture(_sf_stack, _fn, **_kwargs):
    """Set a fixture up as pytest does: a generator fixture runs to its ``yield`` now and on to its end at teardown."""
    import inspect

    if inspect.isgeneratorfunction(_fn):
        _gen = _fn(**_kwargs)
        _value = next(_gen)

        def _sf_teardown():
            try:
                next(_gen)
            except StopIteration:
                return
            raise RuntimeError(f"fixture {_fn.__name__} yields more than once")

        _sf_stack.callback(_sf_teardown)
        return _value
    return _fn(**_kwargs)


# section: tmp_path
def _sf_tmp_path(_sf_stack):
    """pytest's ``tmp_path``: a fresh temporary directory, removed afterwards."""
    import pathlib
    import shutil
    import tempfile

    _path = pathlib.Path(tempfile.mkdtemp(prefix="pytest-")).resolve()
    _sf_stack.callback(shutil.rmtree, _path, True)
    return _path


# section: tmp_path_factory
class _SfTmpPathFactory:
    """pytest's ``tmp_path_factory``: ``mktemp(basename)`` and ``getbasetemp()``."""

    def __init__(self, _sf_stack):
        import pathlib
        import shutil
        import tempfile

        self._base = pathlib.Path(tempfile.mkdtemp(prefix="pytest-of-skillforge-")).resolve()
        _sf_stack.callback(shutil.rmtree, self._base, True)
        self._counts = {}

    def getbasetemp(self):
        return self._base

    def mktemp(self, basename, numbered=True):
        if numbered:
            _n = self._counts.get(basename, 0)
            self._counts[basename] = _n + 1
            basename = f"{basename}{_n}"
        _path = self._base / basename
        _path.mkdir()
        return _path


def _sf_tmp_path_factory(_sf_stack):
    return _SfTmpPathFactory(_sf_stack)


# section: monkeypatch
def _sf_monkeypatch(_sf_stack):
    """pytest's ``monkeypatch``: every change is undone afterwards."""
    try:
        from pytest import MonkeyPatch
    except ImportError:  # pytest < 6.2
        from _pytest.monkeypatch import MonkeyPatch

    _mp = MonkeyPatch()
    _sf_stack.callback(_mp.undo)
    return _mp


# section: capsys
class _SfCapsys:
    """pytest's ``capsys``: ``sys.stdout``/``sys.stderr`` captured, ``readouterr()`` returns and resets them."""

    def __init__(self, _sf_stack):
        import io

        self._saved = (_sf_sys.stdout, _sf_sys.stderr)
        self._out, self._err = io.StringIO(), io.StringIO()
        _sf_sys.stdout, _sf_sys.stderr = self._out, self._err
        _sf_stack.callback(self._restore)

    def _restore(self):
        _sf_sys.stdout, _sf_sys.stderr = self._saved

    def readouterr(self):
        import collections

        _result = collections.namedtuple("CaptureResult", ["out", "err"])(self._out.getvalue(), self._err.getvalue())
        for _stream in (self._out, self._err):
            _stream.seek(0)
            _stream.truncate()
        return _result

    def disabled(self):
        import contextlib

        @contextlib.contextmanager
        def _disabled():
            _captured = (_sf_sys.stdout, _sf_sys.stderr)
            _sf_sys.stdout, _sf_sys.stderr = self._saved
            try:
                yield
            finally:
                _sf_sys.stdout, _sf_sys.stderr = _captured

        return _disabled()


def _sf_capsys(_sf_stack):
    return _SfCapsys(_sf_stack)


# section: main
def _sf_is_skip(_exc):
    import unittest

    return isinstance(_exc, unittest.SkipTest) or type(_exc).__name__ == "Skipped"


if __name__ == "__main__":
    import traceback as _sf_traceback

    try:
        _sf_reproduce()
    except KeyboardInterrupt:
        raise
    except BaseException as _sf_exc:  # pytest.fail() and SystemExit are BaseExceptions too
        if _sf_is_skip(_sf_exc):
            print(f"NOT REPRODUCED (skipped: {_sf_exc})")
            _sf_sys.exit(0)
        _sf_message = str(_sf_exc)
        _sf_frames = _sf_traceback.extract_tb(_sf_exc.__traceback__)
        if not _sf_message and _sf_frames:  # a bare ``assert``: name the failing line
            _sf_at = _sf_frames[-1]
            _sf_message = f"{_sf_at.line} (line {_sf_at.lineno} of {_sf_os.path.basename(_sf_at.filename)})"
        print(f"REPRODUCED: {type(_sf_exc).__name__}: {_sf_message}")
        _sf_traceback.print_exc(file=_sf_sys.stdout)
        _sf_sys.stdout.flush()
        _sf_sys.exit(1)
    print("NOT REPRODUCED")
    _sf_sys.exit(0)
