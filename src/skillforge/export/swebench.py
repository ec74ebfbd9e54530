"""SWE-bench-compatible JSONL of the editing instances, runnable by SWE-bench's
harness 4.x and 5.x.

One row per validated editing instance (one per pull request), in SWE-bench's
field names, so SWE-bench's harness (``load_swebench_dataset`` reads ``.jsonl``)
and ``skillforge validate --instances`` read it:

| field | value |
| --- | --- |
| ``instance_id`` | ``owner__repo-N`` (the pull request's id, no skill suffix) |
| ``repo``, ``base_commit`` | as mined |
| ``patch`` | the gold code patch (the editing answer; tests, docs and other files left out) |
| ``test_patch`` | the test files' part of the pull request |
| ``problem_statement`` | the linked issues' titles and bodies (else the PR's title and message) |
| ``hints_text`` | issue comments made before the PR's first commit, joined by newlines |
| ``created_at`` | the PR's creation time (its merge time when unknown), UTC |
| ``version`` | the environment as a person reads it: the release line (``8.1``, from the newest release tag at the environment's reference commit) or the era (``2024h1``, half-year of that commit), then ``-py<X.Y>``; rows with one ``version`` share an environment |
| ``environment_setup_commit`` | the commit the environment was built at (``environments.json``) |
| ``FAIL_TO_PASS``, ``PASS_TO_PASS`` | pytest node ids |
| ``image`` | SWE-bench 5.x: the instance image the harness runs in (see below) |
| ``eval_script`` | SWE-bench 5.x: reset the test files, apply ``test_patch``, run the tests between SWE-bench's output markers |
| ``log_parser``, ``eval_type`` | SWE-bench 5.x: ``parse_log_pytest`` (``pytest -rA``), ``pass_and_fail`` |
| ``environment``, ``environment_image`` | skillforge's environment name (a key of ``environments.json``) and its image |

The test lists are JSON lists. SWE-bench's own Hugging Face datasets store them
as JSON-encoded strings (``"[\\"tests/t.py::test_a\\"]"``); its harness reads
both (``make_test_spec`` decodes a string), as does ``validate --instances``.
``json_test_lists=True`` writes the string form, for tools that expect exactly
SWE-bench's Hub rows.

SWE-bench 5.x takes a row as it is. Its harness applies the prediction in
``/testbed`` of ``image`` and then runs ``eval_script`` there, as root; an
instance image is the environment image (``environment_image``: the
repository's install, done once per environment) with ``/testbed`` holding
the base commit's tree as a one-commit git repository (no history, so nothing
after the base commit can leak). ``build_swebench_images`` builds them from
an export (``skillforge`` builds the environment images first when missing).

SWE-bench 4.x builds its own images and scripts from a table keyed by
``(repo, version)`` that knows only its benchmark's repositories. The export
writes ``swebench_specs.py`` beside the rows: importing it adds this export's
entries (``MAP_REPO_VERSION_TO_SPECS``, ``MAP_REPO_TO_EXT``,
``MAP_REPO_TO_PARSER``) to the harness, and ``python swebench_specs.py
--dataset_name train.jsonl --predictions_path gold --run_id check`` runs
SWE-bench's harness (``swebench.harness.run_evaluation``) with them, on 4.x or
5.x. The 4.x entries install with pip into SWE-bench's conda environment at
the environment's reference commit; skillforge's time travel (dependencies as
of the commit's date) is not available there.
"""

from __future__ import annotations

import json
import pprint
import re
import shlex
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from skillforge.schema import DEFAULT_TEST_CMD, EnvRecipe, PullRecord, repo_slug
from skillforge.settings import Settings
from skillforge.skills.editing import EditingInstance
from skillforge.environments import workspace_environments
from skillforge.execution.backend import ENVIRONMENTS_FILE, Environment
from skillforge.workspace import Workspace
from skillforge.export.hf import ExportSummary, iso_utc, pr_created_at, pr_hints, write_environments

SWEBENCH_FIELDS = ("instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
                   "created_at", "version", "environment_setup_commit", "FAIL_TO_PASS", "PASS_TO_PASS",
                   "image", "eval_script", "log_parser", "eval_type")
LOG_PARSER = "parse_log_pytest"
EVAL_TYPE = "pass_and_fail"
SPECS_FILE = "swebench_specs.py"
TESTBED = "/testbed"
HEREDOC = "EOF_114329324912"  # SWE-bench's own delimiter of the test patch in an eval script
START_TEST_OUTPUT = ">>>>> Start Test Output"  # SWE-bench's markers around the test output it grades
END_TEST_OUTPUT = ">>>>> End Test Output"
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
_SF_INSTALL = re.compile(r"(?<![\w-])sf-install(?![\w-])")


# --------------------------------------------------------------------------- versions and images


def _release_line(version: str | None) -> str | None:
    """``8.1.3`` -> ``8.1``; None when there is no release."""
    if not version:
        return None
    parts = re.findall(r"\d+", version)
    return ".".join(parts[:2]) if parts else None


def _half_year(when: datetime | None) -> str:
    from skillforge.environments.eras import half_year

    return half_year(when)


def environment_versions(envs: list[Environment], facts: Callable[[Environment], tuple[datetime | None, str | None]]
                         ) -> dict[str, str]:
    """A ``version`` per environment name, unique within each repository: ``<release line>-py<X.Y>`` when a
    release tag is known at the reference commit, else ``<half-year>-py<X.Y>``; the era is added (then a
    number) where two environments of one repository would read alike. ``facts(env)`` gives the reference
    commit's date and release version."""
    out: dict[str, str] = {}
    taken: dict[str, set[str]] = {}
    for env in sorted(envs, key=lambda e: (e.repo, e.name)):
        when, release = facts(env)
        era = _half_year(when)
        line = _release_line(release)
        py = f"py{env.recipe.python}"
        candidates = [f"{line}-{py}", f"{line}-{era}-{py}"] if line else [f"{era}-{py}"]
        used = taken.setdefault(env.repo, set())
        version = next((c for c in candidates if c not in used), None)
        k = 2
        while version is None or version in used:
            version = f"{candidates[-1]}-{k}"
            k += 1
        used.add(version)
        out[env.name] = version
    return out


def environment_version(environment: str, repo: str) -> str:
    """``owner__name-<recipe key>`` -> ``<recipe key>`` (the recipe key an environment name ends with)."""
    prefix = f"{repo_slug(repo)}-"
    return environment[len(prefix):] if environment.startswith(prefix) else environment


def image_namespace(settings: Settings) -> str:
    """``skillforge`` for the default ``skillforge/env`` image prefix."""
    prefix = settings.env_image_prefix
    return prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""


def instance_image(instance_id: str, settings: Settings | None = None) -> str:
    """The SWE-bench 5.x image of a row: ``skillforge/sweb.eval.<instance id>:latest`` (lower case)."""
    settings = settings or Settings.from_env()
    name = re.sub(r"[^a-z0-9_.-]", "-", instance_id.lower())
    return f"{image_namespace(settings)}sweb.eval.{name}:latest"


def _env_image(settings: Settings, env: Environment | None) -> str:
    if env is None:
        return ""
    from skillforge.execution.images import env_image_tag

    return env_image_tag(settings, env.repo, env.recipe)


# --------------------------------------------------------------------------- scripts


def pytest_command(recipe: EnvRecipe) -> str:
    """The recipe's test command with pytest's ``-rA`` summary, which SWE-bench's ``parse_log_pytest`` reads."""
    cmd = recipe.test_cmd or DEFAULT_TEST_CMD
    return cmd if re.search(r"(^|\s)-r\w*A", cmd) else f"{cmd} -rA"


def modified_files(patch: str) -> list[str]:
    """Files a patch changes that exist before it (SWE-bench's ``get_modified_files``), read from the
    ``diff --git`` sections: new files are left out (``git checkout`` would refuse them)."""
    out = []
    for section in re.split(r"^diff --git ", patch, flags=re.M)[1:]:
        header = section.split("\n@@", 1)[0]
        if re.search(r"^(new file mode|--- /dev/null)", header, flags=re.M):
            continue
        m = re.search(r"^--- a/(.+?)\t?$", header, flags=re.M) or re.match(r"a/(\S+) b/", section)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def eval_script(inst: EditingInstance, recipe: EnvRecipe) -> str:
    """SWE-bench 5.x's ``eval_script`` of a row: in the instance image's ``/testbed`` (the base commit, the
    prediction applied by the harness), reset the test files, apply the test patch, run the pull request's
    test files between SWE-bench's markers and reset the test files again."""
    q = shlex.quote
    reset = (f"git checkout HEAD -- {' '.join(q(f) for f in modified_files(inst.test_patch))}"
             if modified_files(inst.test_patch) else 'echo "No test files to reset"')
    tests = " ".join(q(t) for t in inst.test_files)
    lines = ["#!/bin/bash", "set -uxo pipefail", f"cd {TESTBED}",
             f"git config --global --add safe.directory {TESTBED}",
             "git status", "git -c core.fileMode=false diff HEAD"]
    lines += [f"export {k}={q(v)}" for k, v in sorted(recipe.env.items())]
    lines += [reset, f"git apply -v - <<'{HEREDOC}'\n{inst.test_patch.rstrip(chr(10))}\n{HEREDOC}"]
    lines += [f"(cd {TESTBED} && bash -e -o pipefail -c {q(cmd)})" for cmd in recipe.pre_test]
    lines += [f": '{START_TEST_OUTPUT}'", f"{pytest_command(recipe)} {tests}".rstrip(), f": '{END_TEST_OUTPUT}'", reset]
    return "\n".join(lines) + "\n"


def harness4_spec(recipe: EnvRecipe) -> dict[str, Any]:
    """A SWE-bench 4.x ``MAP_REPO_VERSION_TO_SPECS`` entry for ``recipe``: conda Python, the recipe's installs
    with pip (``sf-install`` is skillforge's time-travelling pip: plain pip there), its test command."""
    exports = [f"export {k}={shlex.quote(v)}" for k, v in sorted(recipe.env.items())]
    install = [f"( {_SF_INSTALL.sub('python -m pip install', cmd)} )" for cmd in recipe.install]
    spec: dict[str, Any] = {"python": recipe.python, "test_cmd": pytest_command(recipe)}
    if install:
        spec["install"] = " && ".join(exports + install)
    if recipe.system_packages:
        spec["pre_install"] = ["apt-get update",
                               "apt-get install -y " + " ".join(shlex.quote(p) for p in recipe.system_packages)]
    eval_commands = exports + [f"( {cmd} )" for cmd in recipe.pre_test]
    if eval_commands:
        spec["eval_commands"] = eval_commands
    return spec


SPECS_MODULE = '''"""SWE-bench harness entries for the repositories of this export (written by skillforge {version}).

SWE-bench 5.x reads everything it needs from the rows (image, eval_script, log_parser,
eval_type); SWE-bench 4.x looks install and test commands up by (repo, version) in tables
that know only its benchmark's repositories. Importing this module adds this export's
entries to them (MAP_REPO_VERSION_TO_SPECS, MAP_REPO_TO_EXT, MAP_REPO_TO_PARSER); on 5.x
it changes nothing. Run SWE-bench's harness with them, on either version:

    python {file} --dataset_name {rows} --predictions_path gold --run_id check
"""

SPECS = {specs}
"""repo -> version -> SWE-bench 4.x spec (python, install, test_cmd, ...)."""
LOG_PARSER = {parser!r}


def register() -> bool:
    """Add the entries to SWE-bench's tables; False when the harness has none (5.x)."""
    try:
        from swebench.harness import constants
    except ImportError as exc:
        raise ImportError("SWE-bench's harness is not installed: pip install 'swebench>=4'") from exc

    table = getattr(constants, "MAP_REPO_VERSION_TO_SPECS", None)
    if table is None:
        return False
    for repo, versions in SPECS.items():
        table.setdefault(repo, {{}}).update(versions)
        constants.MAP_REPO_TO_EXT[repo] = "py"
    from swebench.harness import log_parsers
    from swebench.harness.log_parsers import python as python_parsers

    parser = getattr(python_parsers, LOG_PARSER)
    for repo in SPECS:
        log_parsers.MAP_REPO_TO_PARSER[repo] = parser
    return True


register()

if __name__ == "__main__":
    import runpy

    runpy.run_module("swebench.harness.run_evaluation", run_name="__main__", alter_sys=True)
'''


def specs_module(specs: dict[str, dict[str, dict[str, Any]]], *, rows_file: str) -> str:
    from skillforge import __version__

    return SPECS_MODULE.format(version=__version__, file=SPECS_FILE, rows=rows_file, parser=LOG_PARSER,
                               specs=pprint.pformat(specs, width=110, sort_dicts=True))


# --------------------------------------------------------------------------- rows


def swebench_row(inst: EditingInstance, pr: PullRecord | None, env: Environment | None, *, version: str | None = None,
                 settings: Settings | None = None, json_test_lists: bool = False) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    tests = (lambda t: json.dumps(t)) if json_test_lists else list
    recipe = env.recipe if env is not None else EnvRecipe()
    return {
        "instance_id": inst.pr_id,
        "repo": inst.repo,
        "base_commit": inst.base_commit,
        "patch": inst.answer,
        "test_patch": inst.test_patch,
        "problem_statement": inst.problem_statement,
        "hints_text": pr_hints(pr),
        "created_at": pr_created_at(pr) if pr else "",
        "version": version or environment_version(inst.environment, inst.repo),
        "environment_setup_commit": env.reference_commit if env is not None else inst.base_commit,
        "FAIL_TO_PASS": tests(inst.FAIL_TO_PASS),
        "PASS_TO_PASS": tests(inst.PASS_TO_PASS),
        "image": instance_image(inst.pr_id, settings),
        "eval_script": eval_script(inst, recipe),
        "log_parser": LOG_PARSER,
        "eval_type": EVAL_TYPE,
        "environment": inst.environment,
        "environment_image": _env_image(settings, env),
    }


def _environment_facts(ws: Workspace, prs_by_env: dict[str, list[PullRecord]]):
    from skillforge.gitio import commit_info

    def facts(env: Environment) -> tuple[datetime | None, str | None]:
        location = ws.repo_location(env.repo)
        if location and Path(location).exists():
            info = commit_info(location, env.reference_commit)
            if info.date is not None:
                return info.date, info.version
        dates = [iso_utc(pr.merged_at or pr.created_at) for pr in prs_by_env.get(env.name, [])]
        dates = [d for d in dates if d]
        when = datetime.fromisoformat(max(dates).replace("Z", "+00:00")) if dates else None
        return when, None

    return facts


def swebench_export_rows(ws: Workspace, *, json_test_lists: bool = False, settings: Settings | None = None
                         ) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
    """The rows, and the SWE-bench 4.x specs (repo -> version -> spec) of their environments."""
    settings = settings or Settings.from_env()
    envs = {e.name: e for e in workspace_environments(ws)}
    items: list[tuple[EditingInstance, PullRecord | None]] = []
    prs_by_env: dict[str, list[PullRecord]] = {}
    for r in ws.candidates(status="valid", skill="editing"):
        inst = r.instance
        try:
            pr = ws.get_pr(inst.pr_id)
        except KeyError:
            pr = None
        items.append((inst, pr))
        if pr is not None:
            prs_by_env.setdefault(inst.environment, []).append(pr)
    used = [envs[name] for name in sorted({inst.environment for inst, _ in items}) if name in envs]
    versions = environment_versions(used, _environment_facts(ws, prs_by_env))
    rows = [swebench_row(inst, pr, envs.get(inst.environment), version=versions.get(inst.environment),
                         settings=settings, json_test_lists=json_test_lists) for inst, pr in items]
    specs: dict[str, dict[str, dict[str, Any]]] = {}
    for env in used:
        specs.setdefault(env.repo, {})[versions[env.name]] = harness4_spec(env.recipe)
    return rows, specs


def swebench_rows(ws: Workspace, *, json_test_lists: bool = False) -> list[dict[str, Any]]:
    return swebench_export_rows(ws, json_test_lists=json_test_lists)[0]


def export_swebench(ws: Workspace, out: str | Path, *, split: str = "train",
                    json_test_lists: bool = False) -> ExportSummary:
    """``out/<split>.jsonl`` (one SWE-bench row per line), ``out/swebench_specs.py`` (SWE-bench 4.x's
    entries for these rows) and ``out/environments.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, specs = swebench_export_rows(ws, json_test_lists=json_test_lists)
    path = out / f"{split}.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    (out / SPECS_FILE).write_text(specs_module(specs, rows_file=path.name))
    write_environments(ws, out / ENVIRONMENTS_FILE)
    return ExportSummary(out=out, rows={"editing": len(rows)}, files=[path])


# --------------------------------------------------------------------------- instance images (SWE-bench 5.x)

LABEL_KIND_VALUE = "swebench-image"

_IMAGE_SCRIPT = f"""set -eu
cd {TESTBED}
if [ -f {{tracked}} ]; then xargs -0 -r rm -f -- < {{tracked}}; fi
find {TESTBED} -mindepth 1 -depth -type d -empty -delete 2>/dev/null || true
tar -xf /tmp/sf-base.tar -C {TESTBED} --no-same-owner
rm -f /tmp/sf-base.tar
git config --system --add safe.directory '*'
git init -q {TESTBED}
mkdir -p {TESTBED}/.git/info
if [ -f {{products}} ]; then tar -tf {{products}} | sed -e 's|^\\./||' -e 's|^|/|' >> {TESTBED}/.git/info/exclude; fi
printf '%s\\n' '__pycache__/' '.pytest_cache/' >> {TESTBED}/.git/info/exclude
git -C {TESTBED} add -A
git -C {TESTBED} -c user.name=skillforge -c user.email=skillforge@localhost -c commit.gpgsign=false \\
  commit -q --allow-empty -m "$SF_MESSAGE"
chown -R root:root {TESTBED}
"""


def build_swebench_images(rows_file: str | Path, *, workspace: str | Path | None = None,
                          repos_dir: str | Path | None = None, instance_ids: list[str] | None = None,
                          force: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Build the ``image`` of each row of an exported ``rows_file`` (``<split>.jsonl`` with its
    ``environments.json`` beside it) that is missing (or every one with ``force``): its environment
    image (built first when missing) with ``/testbed`` holding the base commit's tree as a one-commit
    git repository, owned by root (SWE-bench 5.x's harness runs as root). Repositories come from the
    workspace that built the export, or ``repos_dir/owner__name``. Returns instance id -> image."""
    from skillforge.evaluate import backend_for_dataset
    from skillforge.execution import InfraError
    from skillforge.execution.images import (LABEL_KIND, LABEL_OWNER, PRODUCTS_TAR, TRACKED_FILES, build_tar,
                                             owner, remove_container, wait_container)

    rows_file = Path(rows_file)
    rows = [json.loads(line) for line in rows_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if instance_ids is not None:
        wanted = set(instance_ids)
        rows = [r for r in rows if r["instance_id"] in wanted]
    backend = backend_for_dataset(rows_file.parent, workspace=workspace, repos_dir=repos_dir,
                                  logs_dir=rows_file.parent / "image-logs")
    client = backend.client
    say = progress or (lambda _msg: None)
    built: dict[str, str] = {}
    script = _IMAGE_SCRIPT.format(tracked=TRACKED_FILES, products=PRODUCTS_TAR)
    for row in rows:
        image = row["image"]
        if not force:
            try:
                client.images.get(image)
                built[row["instance_id"]] = image
                continue
            except Exception:  # noqa: BLE001 - absent: build it
                pass
        info = backend.ensure(row["environment"], progress=say)
        source = backend.repos(row["repo"]).archive(row["base_commit"])
        say(f"{image}: {row['repo']} at {row['base_commit'][:12]} on {info.image}")
        container = client.containers.create(
            info.image, command=["/bin/bash", "/tmp/sf-image.sh"], user="root", network_disabled=True,
            environment={"SF_MESSAGE": f"{row['repo']} at {row['base_commit']} (skillforge)"},
            labels={LABEL_KIND: LABEL_KIND_VALUE, LABEL_OWNER: owner()})
        try:
            container.put_archive("/tmp", build_tar({"sf-base.tar": source, "sf-image.sh": script}))
            container.start()
            code = wait_container(container, 600)
            if code != 0:
                logs = container.logs().decode("utf-8", "replace")[-2000:]
                raise InfraError(f"{image}: building the instance image failed (exit {code}): {logs}",
                                 triage="image_build")
            container.commit(repository=image.rsplit(":", 1)[0], tag=image.rsplit(":", 1)[1],
                             conf={"User": "root", "WorkingDir": TESTBED, "Cmd": ["/bin/bash"],
                                   "Labels": {LABEL_KIND: LABEL_KIND_VALUE, "skillforge.instance": row["instance_id"],
                                              "skillforge.environment": row["environment"]}})
        finally:
            remove_container(container)
        built[row["instance_id"]] = image
    return built
