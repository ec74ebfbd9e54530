"""Reproduction scripts: a pytest test turned into a standalone ``python`` script.

:func:`synthesize_script` keeps, from the test module:

* every import (relative ones rewritten to absolute when the test directory is
  a package; otherwise :class:`NotStandalone`), ``from __future__`` first;
* the module-level definitions (functions, classes, assignments, blocks that
  bind names) the test uses, transitively, found by tree-sitter identifier
  references; module-level calls (``matplotlib.use("Agg")``) and blocks holding
  imports are always kept;
* the test itself -- for a method, its class (and enclosing classes), with the
  class's *other* test methods removed so their decorators cannot fail;
* ``setup_module``/``teardown_module``/``setUpModule``/``tearDownModule`` and
  ``setup_function``/``teardown_function`` when the module defines them.

Fixtures are inlined: a fixture the test requests (an argument, a
``usefixtures`` mark, or an ``autouse`` fixture in scope) is looked up like
pytest does -- the test's classes, the test module, then every ``conftest.py``
from the test's directory up to the repository root (read with ``read_file``),
then the built-in ones -- and its function is copied into the script without
its ``@pytest.fixture`` decorator, with the conftest's imports and helpers it
uses. The script sets fixtures up in dependency order (a fixture's own
arguments first; autouse ones first of all), passes their values by keyword,
and tears ``yield`` fixtures down after the test, last set up first torn down.
Built-in fixtures the script provides: ``tmp_path``, ``tmp_path_factory``,
``monkeypatch`` (``pytest.MonkeyPatch``, undone afterwards) and ``capsys``.
Every fixture is set up once per test, whatever its scope.

``parametrize`` cases are expanded: the argument values of each case are read
from the marks' source (a literal list or tuple, or a module-level name bound
to one; ``pytest.param(..., id=...)`` included), and their ids are computed
the way pytest does (explicit ids, else per value: strings, numbers, booleans,
``None`` as themselves, classes and functions by name, other objects as
``argname<index>``; duplicates suffixed), so a node id ``test_x[case-id]``
selects exactly that case; a node id without a case runs every case. Marks on
the function, on its classes and in ``pytestmark`` combine as in pytest (the
innermost decorator's id first).

Then a ``__main__`` block runs the test like pytest would: a function is
called (``asyncio.run`` for ``async def``); a plain ``Test*`` class is
instantiated, with ``setup_class``/``setup_method``/``teardown_method``/
``teardown_class`` around the call; a ``unittest.TestCase`` runs as
``Class("test_x").debug()`` between ``setUpClass``/``tearDownClass``. Any
exception (``AssertionError``, ``pytest.fail``'s, ``SystemExit`` from the code
under test) prints ``REPRODUCED: <exception>`` (for a bare ``assert``, the
failing line) and the traceback and exits 1;
a skip (``pytest.skip``/``unittest.SkipTest``) or a clean run prints ``NOT
REPRODUCED`` and exits 0.

Marks other than those below (``skipif``, ``filterwarnings``, custom marks) are
ignored: the script runs the test regardless.

What stays :class:`NotStandalone` (the caller drops the test with the reason):
``xfail`` marks; ``indirect`` parametrization, argument values that are not a
literal list, a case id that cannot be matched; fixtures found nowhere (a
plugin's), the ``request`` fixture, parametrized (``params=``) and async
fixtures, fixtures defined in a ``unittest.TestCase``; conftest code that uses
``__file__`` from another directory, or a name a conftest and the test module
define differently. A conftest's module-level calls (plugin and hook set-up)
are not copied.

The script is meant to be run from the repository root: its ``sys.path``
entries (``extra_sys_path``, then the directory pytest's default "prepend"
import mode would insert for the test module and its conftests) are resolved
against the current directory, and ``__file__`` is set to the test module's
path when the kept code uses it.

Modules: :mod:`.synthesize` (the entry point, in phases), :mod:`.source` (the
test module and conftests: statements, references, edits), :mod:`.marks`,
:mod:`.parametrize`, :mod:`.fixtures`, :mod:`.emit` (writing the script) and
:mod:`.prelude` (the helpers every script carries: a real module, read as text,
never imported).
"""

from skillforge.analyze.repro.source import NotStandalone
from skillforge.analyze.repro.synthesize import synthesize_script

__all__ = ["NotStandalone", "synthesize_script"]
