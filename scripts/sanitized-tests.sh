#!/usr/bin/env bash
# Runs the unit tests under a sanitizer (`make check`): scripts/sanitized-tests.sh thread|address FILTER.
# The whole output goes to the terminal and to a log; when the run fails, the sanitizer's reports are printed again
# at the end, so that a CI log that keeps only its last lines still shows which access or allocation went wrong.
set -uo pipefail
sanitizer="$1"
filter="$2"
scratch=".build-${sanitizer:0:1}san"
log="$(mktemp -t "caches-${sanitizer}-XXXXXX.log")"
trap 'rm -f "$log"' EXIT
"${SWIFT:-swift}" test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --filter "$filter" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo
    echo "==== ${sanitizer} sanitizer reports (exit status $status) ===="
    # Each report runs from its WARNING/ERROR line (LeakSanitizer's starts `==pid==ERROR:`) to its SUMMARY line.
    awk '/(WARNING|ERROR): [A-Za-z]*Sanitizer/ {on=1} on {print} /^SUMMARY: [A-Za-z]*Sanitizer/ {on=0}' "$log" | head -400
    # Then the gist last, for logs cut to their last lines: each report's accesses or leaks with the top frames of
    # their stacks, then the failed tests (a failed test can leave tasks behind that LeakSanitizer then reports).
    echo "==== gist ===="
    awk '/(WARNING|ERROR): [A-Za-z]*Sanitizer/ {on=1} on && (/^ *(Read|Write|Previous|Atomic|Location|READ|WRITE)/ || /leak of/ || /^ *#[3-6] / || /^SUMMARY/) {print} /^SUMMARY: [A-Za-z]*Sanitizer/ {on=0}' "$log" | cut -c1-200 | tail -30
    grep -a "✘" "$log" | grep -av "^✘ Suite\|^✘ Test run" | cut -c1-300 | head -10
fi
exit "$status"
