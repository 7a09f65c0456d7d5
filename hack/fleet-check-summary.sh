#!/usr/bin/env bash
# The summary of .github/workflows/fleet-check.yml: one fleet-wide verdict table (tools.fleet report)
# and each stack's drift table, from the artifacts in DIR (verdicts/*.json, drift/*.txt), as Markdown
# on stdout. Exit 1 when a stack lost the client address, drifted, or reached neither check.
set -uo pipefail
dir=${1:?usage: hack/fleet-check-summary.sh ARTIFACTS_DIR}
shopt -s nullglob
status=0
verdicts=("$dir"/verdicts/*.json)
if [ ${#verdicts[@]} -gt 0 ]; then
  .venv/bin/python -m tools.fleet report --markdown "${verdicts[@]}" || status=1
else
  echo "No stack reached verify."
  status=1
fi
drift=("$dir"/drift/*.txt)
echo
echo "### Drift (refresh, then a preview that must find no change)"
echo
if [ ${#drift[@]} -eq 0 ]; then
  echo "No stack reached the drift check."
  exit 1
fi
echo '<pre>'
for table in "${drift[@]}"; do cat "$table"; echo; done
echo '</pre>'
if grep -qs -E ' (failed|cancelled) ' "${drift[@]}"; then status=1; fi
exit "$status"
