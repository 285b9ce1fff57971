"""Mutation testing of the pure modules (`make mutation`): mutmut per module, then the scores.

mutmut 3 runs the tests named in pyproject's `[tool.mutmut]` against each mutant of each module,
one worker (`--max-children 1`): the machines this runs on are small, and the tests per mutant
are a few fast in-process ones. The score of a module is the share of its mutants the tests
kill (a timeout counts as killed; a mutant no test reaches counts as survived). The surviving
mutants are listed; `.venv/bin/mutmut show <name>` shows one's change.

Usage: python scripts/mutation.py [module ...]   (default: every module of `[tool.mutmut]`)
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
KILLED = {1, 3, 24, -24, 36, 152, 255}  # mutmut's exit codes for killed and timed out


def modules() -> list[str]:
    """The files `[tool.mutmut]` mutates (its `only_mutate`), as mutmut reads them."""
    from mutmut.configuration import config  # noqa: PLC0415 (installed by `make mutation` only)

    return list(config().only_mutate)


def results(path: str) -> dict[str, int | None]:
    """Exit code by mutant name of one module, from mutmut's results file."""
    meta = ROOT / "mutants" / f"{path}.meta"
    return json.loads(meta.read_text())["exit_code_by_key"]


def run(path: str) -> None:
    """Run mutmut over one module's mutants; its output goes to `mutants/<module>.log`."""
    module = path.removesuffix(".py").replace("/", ".")
    log = ROOT / "mutants" / f"{module}.log"
    log.parent.mkdir(exist_ok=True)
    mutmut = pathlib.Path(sys.executable).parent / "mutmut"
    with log.open("w") as out:
        code = subprocess.run(
            [str(mutmut), "run", "--max-children", "1", f"{module}.*"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    if code != 0:
        sys.exit(f"mutmut failed on {path} (exit {code}): see {log}")


def main(paths: list[str]) -> int:
    """Run each module, then print its score and its surviving mutants."""
    scores = []
    for path in paths:
        run(path)
        codes = results(path)
        killed = sum(code in KILLED for code in codes.values())
        survivors = sorted(name for name, code in codes.items() if code not in KILLED)
        scores.append((path, killed, len(codes)))
        print(f"{path}: {killed}/{len(codes)} killed ({100 * killed / len(codes):.1f}%)")
        for name in survivors:
            print(f"    survived: {name}")
    print()
    for path, killed, total in scores:
        print(f"{path:36} {killed:4}/{total:<4} {100 * killed / total:5.1f}%")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)  # mutmut reads `pyproject.toml` and writes `mutants/` where it runs
    sys.exit(main(sys.argv[1:] or modules()))
