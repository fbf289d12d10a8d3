#!/usr/bin/env bash
# Mutation testing of the renderer of model output (nbstream/show/markdown.py, _inline.py) and
# of the store (nbstream/store/), interpolation and key redaction (nbstream/interpolate.py,
# redact.py) against their unit tests (configured in pyproject.toml
# [tool.mutmut]); prints the score.
# Surviving mutants are listed by `mutmut results` and shown by `mutmut show NAME`.
set -euo pipefail
cd "$(dirname "$0")/.."
export NBSTREAM_HYPOTHESIS_EXAMPLES="${NBSTREAM_HYPOTHESIS_EXAMPLES:-40}"
rm -rf mutants
mutmut run --max-children "${MUTMUT_CHILDREN:-2}" >/dev/null || true
python - <<'PY'
import json, subprocess

out = subprocess.run(["mutmut", "export-cicd-stats"], capture_output=True, text=True)
stats = json.load(open("mutants/mutmut-cicd-stats.json"))
killed = stats["killed"] + stats.get("timeout", 0)
total = killed + stats["survived"] + stats.get("no_tests", 0) + stats.get("suspicious", 0)
print(f"mutants: {total}, killed: {killed}, survived: {stats['survived']}, "
      f"no tests: {stats.get('no_tests', 0)}, suspicious: {stats.get('suspicious', 0)}")
print(f"mutation score: {100 * killed / max(total, 1):.1f}%")
PY
