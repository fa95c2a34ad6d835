"""Issue 19: what a run input may not decide is refused at validation, with one line
naming the file, the step and the key, from ``plait validate``, ``plait run`` and the
Python API alike; the allow-lists (``--allow-python``, ``--allow-workflow-dir``) widen
or narrow what a workflow reaches; a sub-workflow file is never quoted."""

from __future__ import annotations

import os
import re
import textwrap
import uuid
from pathlib import Path

import pytest

import plait
from plait.errors import ValidationError

from .conftest import Invoke, Outcome

INPUTS = "inputs: {x: {type: string, default: a}, obj: {type: object, default: {}}}\n"

# (case, the step as YAML, the key refused, words of the message)
REFUSED = [
    (
        "shell-string",
        "{id: s, tool: shell, input: {command: 'rm -f ${inputs.x}', shell: true}}",
        "input.command",
        'pass the value through env: (env: {NAME: "${...}"}, read as "$NAME" in the script)',
    ),
    (
        "shell-whole-command",
        "{id: s, tool: shell, input: {command: '${inputs.x}', shell: true}}",
        "input.command",
        "cannot be the whole command",
    ),
    (
        "argv-program",
        "{id: s, tool: shell, input: {command: ['${inputs.x}', '-l']}}",
        "input.command[0]",
        "cannot choose the program",
    ),
    (
        "sh-c-script",
        "{id: s, tool: shell, input: {command: [bash, -eu, -c, 'echo ${inputs.x}']}}",
        "input.command[3]",
        "bash's script",
    ),
    (
        "sh-script-file",
        "{id: s, tool: shell, input: {command: [/bin/sh, '${inputs.x}']}}",
        "input.command[1]",
        "sh's script",
    ),
    (
        "sh-dynamic-option",
        "{id: s, tool: shell, input: {command: [sh, '${inputs.x}', 'echo hi']}}",
        "input.command[1]",
        "an option that makes the next element one",
    ),
    (
        "env-names",
        "{id: s, tool: shell, input: {command: [env], env: '${inputs.obj}'}}",
        "input.env",
        "names chosen by a run input could set PATH, LD_PRELOAD or BASH_ENV",
    ),
    (
        "env-path",
        "{id: s, tool: shell, input: {command: [ls], env: {PATH: '/bin:${inputs.x}'}}}",
        "input.env.PATH",
        "PATH chooses code",
    ),
    (
        "env-preload",
        "{id: s, tool: shell, input: {command: [ls], env: {LD_PRELOAD: '${inputs.x}'}}}",
        "input.env.LD_PRELOAD",
        "LD_PRELOAD chooses code",
    ),
    (
        "cwd-relative-program",
        "{id: s, tool: shell, input: {command: [./build.sh], cwd: '${inputs.x}'}}",
        "input.cwd",
        "chooses the folder where './build.sh' is found",
    ),
    (
        "shell-whole-input",
        "{id: s, tool: shell, input: '${inputs.obj}'}",
        "input",
        "the shell tool's input is a mapping written in the workflow",
    ),
    (
        "sql-string",
        "{id: q, tool: sql, input: {url: 'sqlite://', "
        "query: \"SELECT 1 WHERE 'a' = '${inputs.x}'\"}}",
        "input.query",
        'params: {id: "${...}"}',
    ),
    (
        "sql-alias-script",
        "{id: q, tool: database_query, input: {url: 'sqlite://', "
        "query: ['CREATE TABLE t (a)', 'DELETE FROM t WHERE a = ${inputs.x}']}}",
        "input.query[1]",
        "' OR '1'='1, a second statement",
    ),
    (
        "sql-whole-query",
        "{id: q, tool: sql, input: {url: 'sqlite://', query: '${inputs.x}'}}",
        "input.query",
        "write the query in the workflow with parameters",
    ),
    (
        "sql-whole-input",
        "{id: q, tool: sql, input: '${inputs.obj}'}",
        "input",
        "the sql tool's input is a mapping written in the workflow",
    ),
    (
        "python-function",
        "{id: p, tool: python, input: {function: '${inputs.x}', args: ['1+1']}}",
        "input.function",
        "choose the code to call (builtins:eval)",
    ),
    (
        "python-function-part",
        "{id: p, tool: python, input: {function: 'builtins:${inputs.x}'}}",
        "input.function",
        "'function' is written in the workflow",
    ),
    (
        "python-whole-input",
        "{id: p, tool: python, input: '${inputs.obj}'}",
        "input",
        "the python tool's input is a mapping written in the workflow",
    ),
]


def _workflow(tmp_path: Path, step: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"name: attack\n{INPUTS}steps:\n  - {step}\n", encoding="utf-8")
    return path


def _step_id(step: str) -> str:
    return step.split("id: ", 1)[1].split(",", 1)[0]


def _unplaced(line: str) -> str:
    """A problem's line without its ``:LINE:COLUMN`` (tested in test_positions.py)."""
    return re.sub(r"^([^:]+):\d+:\d+: ", r"\1: ", line)


def _one_problem(outcome: Outcome, path: Path, step: str, key: str, words: str) -> None:
    assert outcome.exit_code == 2, outcome.stderr
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.stderr
    [line] = outcome.problems()
    assert re.match(
        rf"{re.escape(str(path))}:\d+:\d+: step '{step}': key '{re.escape(key)}': ", line
    ), line
    assert words in line
    assert "1 problem found; nothing was run." in outcome.stderr


@pytest.mark.parametrize(("case", "step", "key", "words"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_by_validate_run_and_the_api(
    plait_cli: Invoke, tmp_path: Path, case: str, step: str, key: str, words: str
) -> None:
    path = _workflow(tmp_path, step)
    step_id = _step_id(step)
    _one_problem(plait_cli("validate", path), path, step_id, key, words)
    _one_problem(
        plait_cli("run", path, "--store", "memory://", "-i", "x=y"), path, step_id, key, words
    )
    with pytest.raises(ValidationError) as raised:
        plait.load(path)
    [problem] = raised.value.problems
    assert (problem.file, problem.step, problem.key) == (str(path), step_id, key)
    # built in code, the same rule and the same error type
    wf = plait.Workflow.from_dict({"name": "attack", "steps": [_yaml_step(step)]})
    with pytest.raises(ValidationError):
        wf.validate()


def _yaml_step(step: str) -> object:
    import yaml

    return yaml.safe_load(step)


SAFE = [
    # the safe forms the messages give, and spellings that only look like ${...}
    "{id: s, tool: shell, input: {command: 'printf %s \"$NAME\"', shell: true, "
    "env: {NAME: '${inputs.x}'}}}",
    "{id: s, tool: shell, input: {command: 'echo $${HOME} $$', shell: true}}",
    "{id: s, tool: shell, input: {command: [echo, '${inputs.x}', '--${inputs.x}']}}",
    "{id: s, tool: shell, input: {command: [sh, -c, 'printf %s \"$1\"', sh, '${inputs.x}']}}",
    "{id: s, tool: shell, input: {command: [/bin/echo], cwd: '${inputs.x}', "
    "env: {GREETING: '${inputs.x}'}}}",
    "{id: q, tool: sql, input: {url: 'sqlite://', query: 'SELECT :x AS x', "
    "params: {x: '${inputs.x}'}}}",
    "{id: p, tool: python, input: {function: 'json:dumps', args: ['${inputs.obj}']}}",
]


@pytest.mark.parametrize("step", SAFE)
def test_the_safe_forms_validate(plait_cli: Invoke, tmp_path: Path, step: str) -> None:
    path = _workflow(tmp_path, step)
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 0, outcome.stderr


# -- --allow-python ------------------------------------------------------------------------


def _package(tmp_path: Path) -> str:
    """A package beside the workflow: NAME (fn, _hidden, os imported), NAME.sub (fn),
    and a module NAMEx (fn) that a prefix match must not allow."""
    name = f"pkg{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(
        "import os\n\n\ndef fn():\n    return 'top'\n\n\ndef _hidden():\n    return 'hidden'\n"
    )
    (tmp_path / name / "sub.py").write_text("def fn():\n    return 'sub'\n")
    (tmp_path / f"{name}x.py").write_text("def fn():\n    return 'x'\n")
    return name


def _calls(tmp_path: Path, *functions: str) -> Path:
    steps = "".join(
        f"  - {{id: c{i}, tool: python, input: {{function: '{f}'}}}}\n"
        for i, f in enumerate(functions)
    )
    path = tmp_path / "calls.yaml"
    path.write_text(f"name: calls\nsteps:\n{steps}", encoding="utf-8")
    return path


def test_allow_python_allows_a_module_and_its_submodules(plait_cli: Invoke, tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    path = _calls(tmp_path, f"{pkg}:fn", f"{pkg}.sub:fn", "json:dumps")
    # comma-separated and repeated both add to the list
    args = ("--allow-python", f"json,{pkg}", "--allow-python", "os")
    assert plait_cli("validate", path, *args).exit_code == 0
    outcome = plait_cli("run", path, "--store", "memory://", "--json", *args)
    assert outcome.exit_code == 1  # json.dumps() without an argument fails: it was called
    steps = outcome.json()["steps"]
    assert steps["c0"]["output"] == "top"
    assert steps["c1"]["output"] == "sub"


def test_allow_python_refuses_every_other_module(plait_cli: Invoke, tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    path = _calls(tmp_path, f"{pkg}:fn", f"{pkg}x:fn", f"{pkg}.sub:fn", "builtins:eval")
    outcome = plait_cli("run", path, "--store", "memory://", "--allow-python", f"{pkg}.sub")
    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.stderr
    problems = outcome.problems()
    assert [_unplaced(p).split(": key")[0] for p in problems] == [
        f"{path}: step 'c0'",
        f"{path}: step 'c1'",
        f"{path}: step 'c3'",
    ]
    assert (
        f"module '{pkg}x' is not allowed: --allow-python (allow_python=) lists {pkg}.sub"
        in (problems[1])
    )
    assert "nothing was run" in outcome.stderr


def test_allow_python_refuses_a_private_name(plait_cli: Invoke, tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    path = _calls(tmp_path, f"{pkg}:_hidden", f"{pkg}:fn.__globals__")
    assert plait_cli("validate", path).exit_code == 0  # no allow-list: the author decides
    outcome = plait_cli("validate", path, "--allow-python", pkg)
    assert outcome.exit_code == 2
    assert len(outcome.problems()) == 2
    assert "a name starting with '_' could reach beyond the allowed module" in outcome.stderr


def test_a_bad_module_name_is_one_line(plait_cli: Invoke, tmp_path: Path) -> None:
    path = _calls(tmp_path, "json:dumps")
    outcome = plait_cli("run", path, "--allow-python", "json,not-a-module")
    assert outcome.exit_code == 2
    assert outcome.stderr.strip() == (
        "error: --allow-python: 'not-a-module' is not a module name; give a dotted module "
        "name such as 'mypkg' or 'mypkg.jobs'"
    )


def test_allow_python_through_the_api(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    path = _calls(tmp_path, f"{pkg}.sub:fn")
    with pytest.raises(ValidationError, match=f"module '{pkg}.sub' is not allowed"):
        plait.load(path, allow_python=["json"])
    assert plait.run_sync(path, allow_python=pkg).steps["c0"].output == "sub"
    wf = plait.load(path)
    with pytest.raises(ValidationError) as raised:
        wf.create_run(allow_python="json")
    assert raised.value.problems[0].key == "input.function"
    with pytest.raises(ValidationError):
        plait.run_sync(wf, allow_python=[])  # an empty list allows no python step
    assert plait.run_sync(wf, allow_python=[f"{pkg}.sub"]).status.value == "succeeded"


def test_resume_takes_allow_python_again(plait_cli: Invoke, tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    path = tmp_path / "resumable.yaml"
    path.write_text(
        "name: resumable\nsteps:\n"
        f"  - {{id: a, tool: python, input: {{function: '{pkg}:fn'}}}}\n"
        "  - {id: b, tool: fail, input: {message: once}, dependsOn: [a]}\n",
        encoding="utf-8",
    )
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    first = plait_cli("run", path, "--store", store, "--json", "--allow-python", pkg)
    assert first.exit_code == 1
    run_id = first.json()["run_id"]
    outcome = plait_cli(
        "resume", run_id, "--from-failure", "--store", store, "--allow-python", "json"
    )
    assert outcome.exit_code == 2
    assert f"step 'a': key 'input.function': module '{pkg}' is not allowed" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_a_function_path_through_a_module_fails_its_step(tmp_path: Path) -> None:
    """``pkg:os.system``: the module part says whose code runs, with or without a list."""
    pkg = _package(tmp_path)
    canary = tmp_path / "canary"
    canary.write_text("alive")
    path = tmp_path / "through.yaml"
    path.write_text(
        "name: through\nsteps:\n"
        f"  - {{id: s, tool: python, input: {{function: '{pkg}:os.remove', "
        f"args: ['{canary}']}}}}\n",
        encoding="utf-8",
    )
    result = plait.run_sync(path, allow_python=pkg)
    error = result.steps["s"].error
    assert error is not None
    assert error["type"] == "InputError"
    assert f"'{pkg}:os.remove' reaches the module 'os' through an attribute" in error["message"]
    assert canary.read_text() == "alive"


# -- workflow: paths -------------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


SUB = "name: sub\nsteps: [{id: a, tool: echo, input: from-sub}]\noutputs: ${a.output}\n"


def _including(tmp_path: Path, ref: str, name: str = "proj/wf.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"name: wf\nsteps:\n  - {{id: sub, workflow: '{ref}'}}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "ref", ["../shared/outside.yaml", "link.yaml", "sub/../../shared/outside.yaml", "ABS"]
)
def test_a_workflow_file_outside_the_folder_is_refused(
    plait_cli: Invoke, tmp_path: Path, ref: str
) -> None:
    _tree(tmp_path, {"shared/outside.yaml": SUB})
    (tmp_path / "proj").mkdir()
    os.symlink(tmp_path / "shared" / "outside.yaml", tmp_path / "proj" / "link.yaml")
    if ref == "ABS":
        ref = str(tmp_path / "shared" / "outside.yaml")
    path = _including(tmp_path, ref)
    for args in (("validate", path), ("run", path, "--store", "memory://")):
        outcome = plait_cli(*args)
        assert outcome.exit_code == 2
        [line] = outcome.problems()
        assert _unplaced(line).startswith(
            f"{path}: step 'sub': key 'workflow': workflow '{ref}' is outside the folder of the "
            f"file that names it ({(tmp_path / 'proj').resolve()})"
        ), line
        assert "--allow-workflow-dir DIR (Python: allow_workflow_dirs=[DIR])" in line
    with pytest.raises(ValidationError, match="is outside the folder"):
        plait.load(path)


def test_allow_workflow_dir_lets_a_folder_in(plait_cli: Invoke, tmp_path: Path) -> None:
    _tree(tmp_path, {"shared/outside.yaml": SUB})
    path = _including(tmp_path, "../shared/outside.yaml")
    # relative to the working directory (the CLI tests run in tmp_path)
    assert plait_cli("validate", path, "--allow-workflow-dir", "shared").exit_code == 0
    outcome = plait_cli(
        "run", path, "--store", "memory://", "--json", "--allow-workflow-dir", "shared"
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["outputs"] == {"sub": "from-sub"}
    # the API: on load, on run_sync of a path, and at run time for a workflow built in code
    assert plait.load(path, allow_workflow_dirs=[tmp_path / "shared"]).name == "wf"
    result = plait.run_sync(path, allow_workflow_dirs=[str(tmp_path / "shared")])
    assert result.outputs == {"sub": "from-sub"}
    built = plait.Workflow.from_dict(
        {"name": "built", "steps": [{"id": "sub", "workflow": "../shared/outside.yaml"}]},
        file=str(path),
    )
    with pytest.raises(ValidationError):
        built.validate()
    assert plait.run_sync(built, allow_workflow_dirs=[tmp_path / "shared"]).outputs == {
        "sub": "from-sub"
    }


def test_a_folder_below_is_in_and_each_file_is_confined_to_its_own(
    plait_cli: Invoke, tmp_path: Path
) -> None:
    _tree(
        tmp_path,
        {
            "proj/lib/inner.yaml": "name: inner\nsteps: [{id: s, workflow: ../sibling.yaml}]\n",
            "proj/sibling.yaml": SUB,
            "proj/lib/deeper/leaf.yaml": SUB,
        },
    )
    assert plait_cli("validate", _including(tmp_path, "lib/deeper/leaf.yaml")).exit_code == 0
    path = _including(tmp_path, "lib/inner.yaml")
    outcome = plait_cli("validate", path)
    assert outcome.exit_code == 2
    [line] = outcome.problems()
    inner = tmp_path / "proj" / "lib" / "inner.yaml"
    assert _unplaced(line).startswith(
        f"{inner.resolve()}: step 's': key 'workflow': workflow '../sibling.yaml' is outside"
    ), line


SECRET = "SECRET-7f3a9c"

UNQUOTABLE = {
    # a binary file with the secret inside
    "blob.bin": os.urandom(64) + SECRET.encode() + b"\x00\xff\xfe" + os.urandom(64),
    # text that is not a mapping, a mapping with no steps, YAML that PyYAML would quote
    "shadow": f"root:$6${SECRET}$hash:19000:0:99999:7:::\n".encode(),
    "token.env": f"export AWS_SECRET_ACCESS_KEY={SECRET}\n".encode(),
    "creds.yaml": f"password: {SECRET}\napi_key: {SECRET}\n".encode(),
    "alias.yaml": f"steps: *{SECRET}\n".encode(),
    "tab.yaml": f"steps:\n\t- {SECRET}\n".encode(),
    "dup.json": f'{{"{SECRET}": 1, "{SECRET}": 2}}'.encode(),
    "date.yaml": f"steps: !!timestamp {SECRET}\n".encode(),
    "latin1.yaml": f"name: caf\xe9 {SECRET}\n".encode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(UNQUOTABLE))
def test_a_sub_workflow_that_is_not_one_is_named_never_quoted(
    plait_cli: Invoke, tmp_path: Path, name: str
) -> None:
    (tmp_path / "secrets").mkdir()
    target = tmp_path / "secrets" / name
    target.write_bytes(UNQUOTABLE[name])
    path = _including(tmp_path, f"../secrets/{name}")
    for args in (
        ("validate", path, "--allow-workflow-dir", "secrets"),
        ("run", path, "--store", "memory://", "--allow-workflow-dir", "secrets"),
    ):
        outcome = plait_cli(*args)
        assert outcome.exit_code == 2
        assert "Traceback" not in outcome.stderr
        [line] = outcome.problems()
        assert _unplaced(line).startswith(
            f"{path}: step 'sub': key 'workflow': workflow '../secrets/{name}'"
        )
        assert str(target.resolve()) in line
        assert SECRET not in outcome.stderr + outcome.stdout
        assert SECRET[:6] not in line.replace(f"../secrets/{name}", "")
    with pytest.raises(ValidationError) as raised:
        plait.load(path, allow_workflow_dirs=[tmp_path / "secrets"])
    assert SECRET not in str(raised.value)


def test_the_workflow_you_name_yourself_is_quoted_as_before(tmp_path: Path) -> None:
    """The file given to ``plait run`` is the user's own: its parse errors say what they
    see (only a file a workflow names is kept quiet)."""
    path = tmp_path / "alias.yaml"
    path.write_text(f"steps: *{SECRET}\n")
    with pytest.raises(plait.WorkflowError, match=SECRET):
        plait.load(path)


def test_the_rules_hold_in_maps_loops_and_sub_workflows(plait_cli: Invoke, tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "proj/sub.yaml": """\
                name: sub
                inputs: {f: {type: string}}
                steps:
                  - {id: call, tool: python, input: {function: "${inputs.f}"}}
                """,
            "proj/wf.yaml": """\
                name: wf
                inputs: {xs: {type: array, default: [a]}}
                steps:
                  - id: each
                    parallel:
                      items: ${inputs.xs}
                      steps:
                        - id: s
                          tool: shell
                          input: {command: "echo ${parallel.item}", shell: true}
                  - id: again
                    loop:
                      type: for
                      count: 2
                      steps:
                        - id: q
                          tool: sql
                          input: {url: "sqlite://", query: "SELECT ${loop.index}"}
                  - {id: inner, workflow: sub.yaml, input: {f: json:dumps}}
                """,
        },
    )
    path = tmp_path / "proj" / "wf.yaml"
    outcome = plait_cli("graph", path)
    assert outcome.exit_code == 2
    assert [_unplaced(p).split(": ", 3)[:3] for p in outcome.problems()] == [
        [str(path), "step 's'", "key 'input.command'"],
        [str(path), "step 'q'", "key 'input.query'"],
        [str((tmp_path / "proj" / "sub.yaml").resolve()), "step 'call'", "key 'input.function'"],
    ]
