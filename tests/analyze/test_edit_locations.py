"""Edit locations: the existing definitions of the base revision a code patch changes, in the
convention of SWE-bench-derived localization data (functions, classes, methods; nested functions
rolled up; module-level code as its own kind), beside the definitions only the patch adds."""

from __future__ import annotations

import textwrap

from skillforge.analyze import analyze_commit_patch, code_locations
from skillforge.schema import Analysis, CodeLocation

BASE = textwrap.dedent(
    '''\
    """HTTP models."""

    CHUNK_SIZE = 512


    class Response:
        encoding = "utf-8"

        def __init__(self, raw):
            self.raw = raw

        def iter_content(self, size=1):
            def generate():
                while True:
                    chunk = self.raw.read(size)
                    if not chunk:
                        break
                    yield chunk

            return generate()

        def json(self):
            return self.raw


    def stream(response):
        def pump(out):
            for chunk in response.iter_content():
                out.append(chunk)
            return out

        return pump([])


    def untouched():
        return 1
    '''
)

AFTER = (BASE
         .replace("CHUNK_SIZE = 512", "CHUNK_SIZE = 1024")  # (d) a module-level constant
         .replace("self.raw = raw", "self.raw = raw\n        self.closed = False")  # (a) a method of a class
         .replace("out.append(chunk)", "out.append(bytes(chunk))")  # (b) a function nested in a function
         + textwrap.dedent(
             '''\


             def close(response):
                 response.closed = True
             '''
         ))  # (c) a new function

PY = "src/http/models.py"


def _analyze(sandbox, before: dict[str, str], after: dict[str, str]) -> Analysis:
    base = sandbox.commit(before, "base")
    merge = sandbox.commit(after, "fix")
    return analyze_commit_patch(sandbox.path, base, sandbox.diff(base, merge))


def _loc(file: str, name: str | None, kind: str) -> CodeLocation:
    return CodeLocation(file=file, name=name, kind=kind)


def test_method_nested_function_new_function_and_constant(sandbox):
    a = _analyze(sandbox, {PY: BASE}, {PY: AFTER})
    assert a.edit_locations == [
        _loc(PY, None, "module"),
        _loc(PY, "Response.__init__", "method"),
        _loc(PY, "stream", "function"),
    ]
    assert a.added_locations == [_loc(PY, "close", "function")]
    # the analysis' own entities are what they were: the nested function and the constant by name
    assert a.entities == [f"{PY}::CHUNK_SIZE", f"{PY}::Response.__init__", f"{PY}::stream.pump", f"{PY}::close"]
    assert [x.model_dump() for x in a.edit_locations][:2] == [
        {"file": PY, "name": None, "kind": "module"},
        {"file": PY, "name": "Response.__init__", "kind": "method"},
    ]


def test_nested_in_a_method_rolls_up_to_the_method_and_a_new_nested_function_is_an_edit(sandbox):
    after = BASE.replace("yield chunk", "yield bytes(chunk)").replace(
        "    def json(self):\n        return self.raw\n",
        "    def json(self):\n        def decode(raw):\n            return raw\n\n        return decode(self.raw)\n")
    a = _analyze(sandbox, {PY: BASE}, {PY: after})
    assert a.edit_locations == [_loc(PY, "Response.iter_content", "method"), _loc(PY, "Response.json", "method")]
    assert a.added_locations == []  # Response.json.decode is part of Response.json
    assert f"{PY}::Response.iter_content.generate" in a.entities


def test_class_body_new_method_removed_function_and_added_file(sandbox):
    after = (BASE.replace('encoding = "utf-8"', 'encoding = "latin-1"')
             .replace("    def json(self):", "    def text(self):\n        return str(self.raw)\n\n    def json(self):")
             .replace("\n\ndef untouched():\n    return 1\n", ""))
    a = _analyze(sandbox, {PY: BASE}, {PY: after, "src/http/extra.py": "def helper():\n    return 2\n"})
    assert a.edit_locations == [_loc(PY, "Response", "class"), _loc(PY, "untouched", "function")]
    # files in patch order (git sorts them)
    assert a.added_locations == [_loc("src/http/extra.py", "helper", "function"), _loc(PY, "Response.text", "method")]


def test_other_languages_name_their_definitions(sandbox):
    go = "package store\n\ntype Store struct{}\n\nfunc (s *Store) Get() int {\n\treturn 1\n}\n"
    a = _analyze(sandbox, {"store/store.go": go}, {"store/store.go": go.replace("return 1", "return 2")})
    assert a.edit_locations == [_loc("store/store.go", "Store.Get", "method")]
    c = "int f(void) { return 1; }\n"
    a = _analyze(sandbox, {"lib/f.c": c}, {"lib/f.c": c.replace("1", "2")})
    assert a.files == ["lib/f.c"] and a.edit_locations == [] and a.added_locations == []


def test_computed_from_the_code_patch_alone_for_stored_analyses(sandbox):
    base = sandbox.commit({PY: BASE}, "base")
    merge = sandbox.commit({PY: AFTER}, "fix")
    a = analyze_commit_patch(sandbox.path, base, sandbox.diff(base, merge))
    stored = a.model_dump(exclude={"edit_locations", "added_locations"})
    old = Analysis.model_validate(stored)  # an analysis stored before the fields existed still loads
    assert old.edit_locations == [] and old.added_locations == []
    tree = sandbox.repo.commit(base).tree
    new_tree = sandbox.repo.commit(merge).tree

    def reader(t):
        def read(path):
            try:
                return t[path].data_stream.read()
            except KeyError:
                return None
        return read

    assert code_locations(old.code_patch, reader(tree), reader(new_tree)) == (a.edit_locations, a.added_locations)
