#!/usr/bin/env bash
# make check: a service that depends on Caches with the default traits off (scripts/trait-free-dependent) builds,
# runs, and compiles none of the optional dependencies. Also builds this package and its tests with no trait.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=()
[ -n "${SWIFT_JOBS:-}" ] && jobs=(-j "$SWIFT_JOBS")

echo "== a dependent with Caches' default traits off"
dependent=scripts/trait-free-dependent
scratch=$root/.build-notraits/dependent
swift build --package-path "$dependent" --scratch-path "$scratch" "${jobs[@]}"
"$scratch/debug/TraitFreeProbe"
found=()
for module in Yams Configuration SystemPackage ServiceLifecycle Metrics CoreMetrics Tracing Instrumentation; do
    if find "$scratch/debug/" -name "$module.swiftmodule" -print -quit | grep -q .; then found+=("$module"); fi
done
if [ "${#found[@]}" -gt 0 ]; then
    echo "check-traits: the trait-free build compiled optional modules: ${found[*]}" >&2
    exit 1
fi
echo "no optional module compiled (Yams, Configuration, SystemPackage, ServiceLifecycle, Metrics, Tracing)"

echo "== this package and its tests with --disable-default-traits"
swift build --disable-default-traits --build-tests --scratch-path "$root/.build-notraits/root" "${jobs[@]}"
