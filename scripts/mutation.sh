#!/usr/bin/env bash
# Mutation testing (mutmut) where a silent bug costs most: the renderer of model text, the cut
# of a reply into outputs, its status line and footer (rendering), key redaction, the failure
# mapping and retry waits, interpolation, the cache key and the conversation store. Each module is mutated alone,
# against only the test files that specify it, in its own copy of the tree (.mutation/NAME/),
# so a module takes minutes, not an hour. Prints a
# table: module, mutants, killed, survived, SQL case only, score, ✓/✗ against 90%. A survivor
# that only changes the letter case of SQL text is equivalent (SQLite reads keywords and names
# in any case): it is counted apart and left out of the score, killed / (checked - those).
#
#   scripts/mutation.sh                 every module below
#   scripts/mutation.sh redact cache-key  only these
#   scripts/mutation.sh --report          the table of the last runs (a run cut short shows
#                                         "checked of generated" and scores what it checked)
#   cd .mutation/redact && mutmut results && mutmut show NAME   the survivors, one by one
#
# Shared mutmut settings are [tool.mutmut] in pyproject.toml; which tests specify which module
# is MODULES below. Runs under `nice -n 19` with MUTMUT_CHILDREN (default 2) workers.
#
# Equivalent mutants (no input can tell them from the code) carry `# pragma: no mutate` and the
# reason on their line; the ones left are counted as survivors and explained here:
#   interpolate.resolve: `_STEP.finditer(path)` for `finditer(path, name.end())`; a name holds
#     no `.` or `[`, so both find the same steps (said beside the code too).
#   show/segments._in_line: the searches start past `least` and their result is checked
#     against `least`, so moving either bound alone (`None`, `least - 1`, `>=`) changes nothing.
#   show/segments.segment_cut: `len(body) <= limit // 4` with `<`, `/` or `// 5`; a character
#     is at most 4 UTF-8 bytes, so the exact byte count after it answers the same: the first
#     test only spares encoding a short body (a lone surrogate, which cannot be encoded at
#     all, fails sooner).
#   show/segments._inside: `or` for `and` in the list item filter; a list is cut inside only
#     as the one block parsed, whose level-1 tokens are its items' opening and closing ones,
#     and a closing token has no line (0, never past `first`).
#   show/_inline: `_math_body` removing `\{` `\}` for "XXXX" balances alike.
#   store/cache_key.canonical: `allow_nan=None` for `allow_nan=False`; both are falsy.
#   redact: none left. `current = None` for `todo.pop()`, and dropping the `seen` guard on a
#     chain that loops back (`raise err from err`), never end: they count as timeouts.
#   show/_inline._url_char: markdown-it percent-encodes non-ASCII in every link target first,
#     so the bytes joined are always one, and any separator between them changes nothing.
#   show/markdown: none left. Marked instead: the text `warm` parses (any text builds the same
#     parsers); the cached parser builders are decorated, which mutmut skips. Branches no
#     input reaches went (a table always has a header row, a cell one line, an indented block
#     an empty info string). The sanitiser's allow-list is tested on raw HTML alone: the
#     Markdown before it never lets through what it would remove.
#   engine/failures: `headers.get(..., "XXXX")` for the default "" in stated_wait; an absent
#     `x-ratelimit-remaining-*` is "0" under neither default. `_body_text`'s `err.body or
#     'XXXX'` for `or ''`: the text is only searched for what servers say of models, which
#     "XXXX" says no more than "".
#   store/ (threads, rows, memory, database, db, records): besides the SQL case-only mutants
#     counted apart, equivalent: `write=None` for `write=False` (both falsy: a plain BEGIN);
#     `ensure_ascii=None` for False; read_mounts' encoding and error-handler spellings
#     (/proc/mounts is ASCII) and its "" fallback (no test machine lacks the file); "reset"
#     and "undo" in rows.apply's `removes` (they take the other branch, which always bumps the
#     epoch); `pop(key, None)` defaults where the key is always there; the `mine`/`known` hints
#     and `ours` lookups in rows.fetch, which only spare parsing (a full read gives the same
#     view); `table=` for a fresh in-memory database (no tables to check); set-aside names
#     past `-999`; `os.O_EXCL & os.O_RDWR` (the file exists by then or is made by SQLite).
#     Left, needing a read-only mount or a file that cannot be renamed (the root-only tests in
#     test_store_faults.py reach them without pinning each branch): `_flush`'s reconnect after
#     SQLITE_READONLY, Database.set_aside when the rename fails, a failed read in `_refresh`,
#     `_load` giving up early, and the words of those warnings.
#
# Eight deliberate bugs, each caught by the test named (break the code, watch it go red):
#   `&` left unescaped in text (show/_inline.py)   test_text_shows_exactly_as_the_parser_read_it
#   every link scheme allowed (show/_inline.py)    test_no_front_end_finds_...[javascript-link]
#   the cache key from the last message only       test_the_key_covers_the_whole_history_...
#                                                  (store/cache_key.py)
#   only the first occurrence of a key redacted    test_scrub_reaches_every_part_of_a_chain_...
#   a key in a dict key passes the guard           test_the_guard_names_where_the_key_is
#   `_` attributes interpolated                    test_attributes_starting_with_an_underscore_...
#   Retry-After as an HTTP date ignored            test_retry_after_is_seconds_or_an_http_date,
#                                                  test_a_retry_after_date_a_moment_ahead_is_...
#   retry-after-ms read as seconds                 test_a_429_is_retried_after_the_wait_its_...
#   (and 403 not an auth error                     test_a_refusal_is_one_line_naming_status_...)
set -euo pipefail
cd "$(dirname "$0")/.."
export NBSTREAM_HYPOTHESIS_EXAMPLES="${NBSTREAM_HYPOTHESIS_EXAMPLES:-40}"
exec nice -n 19 python - "$@" <<'PY'
import json, os, re, shutil, subprocess, sys, tomllib
from pathlib import Path

from mutmut.stats import status_by_exit_code

TARGET = 0.90
# name: (file mutated, the test files that specify it and any pytest option starting with "-",
# mutant names counted; empty: all of the file)
MODULES = {
    "markdown": ("nbstream/show/markdown.py", ["tests/test_markdown.py",
                 "tests/test_markdown_blocks.py", "tests/test_markdown_safety.py",
                 "tests/test_rendering.py"], []),
    "inline": ("nbstream/show/_inline.py", ["tests/test_inline.py",
               "tests/test_markdown_blocks.py", "tests/test_markdown_safety.py",
               "tests/test_rendering.py"], []),
    "segments": ("nbstream/show/segments.py",
                 ["tests/test_segments.py", "tests/test_markdown_safety.py"], []),
    "redact": ("nbstream/redact.py",
               ["tests/test_redact.py", "tests/test_secrets.py", "tests/test_secret_search.py"], []),
    "failures": ("nbstream/engine/failures.py",
                 ["tests/test_failures.py", "tests/test_engine.py"], []),
    "rendering": ("nbstream/show/rendering.py", ["tests/test_rendering.py",
                  "tests/test_status_lines.py", "tests/test_reasoning_display.py"], []),
    "interpolate": ("nbstream/interpolate.py", ["tests/test_interpolate.py"], []),
    "cache-key": ("nbstream/store/cache_key.py",
                  ["tests/test_cache_key.py", "tests/test_cache_policy.py"], []),
    "threads": ("nbstream/store/threads.py", ["tests/test_threads.py", "tests/test_store.py",
                "tests/test_store_faults.py", "tests/test_store_legacy.py",
                "tests/test_store_pickup.py", "tests/test_store_files.py",
                "tests/test_store_loop.py", "tests/test_attachments.py"], []),
    "rows": ("nbstream/store/rows.py", ["tests/test_rows.py", "tests/test_database.py",
             "tests/test_store_memory.py", "tests/test_store_pickup.py", "tests/test_store.py",
             "tests/test_threads.py", "tests/test_attachments.py"], []),
    "memory": ("nbstream/store/memory.py",
               ["tests/test_store_memory.py", "tests/test_store.py"], []),
    "database": ("nbstream/store/database.py", ["tests/test_database.py", "tests/test_db.py",
                 "tests/test_store_faults.py", "tests/test_store.py", "tests/test_threads.py",
                 "tests/test_attachments.py", "tests/test_store_pickup.py"], []),
    "db": ("nbstream/store/db.py", ["tests/test_db.py", "tests/test_database.py",
           "tests/test_store_faults.py", "tests/test_store_loop.py", "tests/test_threads.py"],
           []),
    "records": ("nbstream/store/records.py", ["tests/test_records.py", "tests/test_database.py",
                "tests/test_rows.py", "tests/test_store_memory.py", "tests/test_threads.py"], []),
}


def prepare(name: str, path: str, tests: list[str]) -> Path:
    """A fresh copy of the tree whose [tool.mutmut] mutates `path` against `tests` only."""
    work = Path(".mutation") / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "e2e")
    for tree in ("nbstream", "tests"):
        shutil.copytree(tree, work / tree, ignore=skip)
    text = Path("pyproject.toml").read_text()
    section = re.search(r"^\[tool\.mutmut\]\n(?:(?!\[).*\n?)*", text, re.M)
    assert section, "pyproject.toml has no [tool.mutmut]"
    config = tomllib.loads(section.group(0))["tool"]["mutmut"]
    config["only_mutate"] = [path]
    config["pytest_add_cli_args_test_selection"] = [t for t in tests if not t.startswith("-")]
    config["pytest_add_cli_args"] += [t for t in tests if t.startswith("-")]
    # JSON writes strings, lists and numbers as TOML reads them.
    own = "[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items())
    (work / "pyproject.toml").write_text(text.replace(section.group(0), "") + "\n" + own)
    return work


def statuses(work: Path, patterns: list[str]) -> dict[str, str]:
    """The status of every counted mutant by name, read from mutmut's results next to the copy."""
    found = {}
    for meta in (work / "mutants").rglob("*.meta"):
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if not patterns or any(re.fullmatch(p.replace("*", ".*"), key) for p in patterns):
                found[key] = status_by_exit_code[code]
    return found


SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|FROM|VALUES|RETURNING|CONFLICT|PRAGMA)\b", re.I
)


def sql_case_only(work: Path, name: str) -> bool:
    """A mutant that only changes the letter case of SQL text: SQLite reads keywords and names
    alike in any case, so no test can tell it from the code (equivalent, left out of the score)."""
    shown = subprocess.run(["mutmut", "show", name], cwd=work, capture_output=True, text=True)
    lines = shown.stdout.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    return (len(removed) == len(added) == 1 and removed[0] != added[0]
            and removed[0].lower() == added[0].lower() and bool(SQL.search(removed[0])))


def run(name: str) -> None:
    path, tests, patterns = MODULES[name]
    work = prepare(name, path, tests)
    children = os.environ.get("MUTMUT_CHILDREN", "2")
    with open(work / "run.log", "w") as log:
        subprocess.run(["mutmut", "run", "--max-children", children, *patterns],
                       cwd=work, stdout=log, stderr=subprocess.STDOUT, check=False)


def row(name: str) -> str:
    """The table row of a module from its last run; a run cut short scores what it checked."""
    work = Path(".mutation") / name
    found = statuses(work, MODULES[name][2])
    checked = [s for s in found.values() if s != "not checked"]
    killed = sum(s in ("killed", "timeout") for s in checked)
    survived = [key for key, s in found.items() if s == "survived"]
    equivalent = sum(sql_case_only(work, key) for key in survived)
    counted = len(checked) - equivalent
    score = killed / counted if counted else 0.0
    mutants = f"{len(found)}" if len(checked) == len(found) else f"{len(checked)} of {len(found)}"
    mark = "✓" if counted and score >= TARGET else "✗"
    return (f"| `{MODULES[name][0]}` | {mutants} | {killed} | {len(survived) - equivalent} "
            f"| {equivalent} | {100 * score:.1f}% | {mark} |")


report = sys.argv[1:2] == ["--report"]  # the table from the last runs, running nothing
names = sys.argv[1 + report:] or [n for n in MODULES if not report or (Path(".mutation") / n).exists()]
unknown = [n for n in names if n not in MODULES]
if unknown:
    sys.exit(f"unknown module {unknown}: choose from {', '.join(MODULES)}")
for name in names if not report else []:
    run(name)
    print(f"{name}: done", file=sys.stderr, flush=True)
print("| module | mutants | killed | survived | SQL case only | score | ≥ 90% |")
print("|---|---:|---:|---:|---:|---:|:-:|")
print("\n".join(row(name) for name in names))
PY
