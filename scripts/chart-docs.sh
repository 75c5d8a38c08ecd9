#!/usr/bin/env bash
# Generates charts/ssm-contacts-operator/README.md from the chart's README.md.gotmpl, Chart.yaml
# and the `# --` comments of values.yaml, with helm-docs pinned in tools/helm-docs/go.mod.
#
#   scripts/chart-docs.sh           rewrite the chart's README.md
#   scripts/chart-docs.sh --check   fail, with a diff, when README.md is stale (lint-chart.sh runs it)
#   scripts/chart-docs.sh --bin     only print the path of the helm-docs binary
#   scripts/chart-docs.sh MODE DIR  the same for the chart in DIR (lint-chart.sh's SSMC_LINT_CHART)
#
# helm-docs is built once per machine (tools/helm-docs/build.sh; changing the pin rebuilds,
# an unchanged pin is a no-op).
# Every value must carry a `# --` comment (a value without one fails this script), and any
# warning helm-docs prints (e.g. a template error) fails it too.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-write}
case "$mode" in
  write | --check | --bin) ;;
  *) echo "usage: $0 [write | --check | --bin] [CHART_DIR]" >&2; exit 2 ;;
esac
chart=$(cd "${2:-$root/charts/ssm-contacts-operator}" && pwd)

bin=$(bash "$root/tools/helm-docs/build.sh" | tail -n 1)
version=$(sed -nE 's#^\s*github.com/norwoodj/helm-docs (v[^ ]+).*#\1#p' "$root/tools/helm-docs/go.mod")
if [[ $mode == --bin ]]; then
  echo "$bin"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Render into a copy of the chart without its README, so that a run that renders nothing
# cannot pass for an up-to-date README (and no path of this machine can reach the output).
mkdir "$tmp/charts"
cp -R "$chart" "$tmp/charts/ssm-contacts-operator"
rm -f "$tmp/charts/ssm-contacts-operator/README.md"
if ! (cd "$tmp" && "$bin" --chart-search-root charts --template-files README.md.gotmpl \
  --sort-values-order file --log-level warning) >"$tmp/helm-docs.log" 2>&1; then
  cat "$tmp/helm-docs.log" >&2
  echo "chart-docs: helm-docs failed" >&2
  exit 1
fi
if [[ -s "$tmp/helm-docs.log" ]]; then
  cat "$tmp/helm-docs.log" >&2
  echo "chart-docs: helm-docs warned" >&2
  exit 1
fi
generated="$tmp/charts/ssm-contacts-operator/README.md"
if [[ ! -s "$generated" ]]; then
  echo "chart-docs: helm-docs wrote no README.md" >&2
  exit 1
fi

# helm-docs' own strict mode only knows the old `# key -- text` comments; an undocumented
# value shows up in the values table with an empty description instead.
if grep -E '^\| [^|]+ \| [a-z]+ \| .* \| *\|$' "$generated" >"$tmp/undocumented"; then
  cut -d'|' -f2 "$tmp/undocumented" >&2
  echo "chart-docs: the values above have no \`# --\` comment in values.yaml" >&2
  exit 1
fi

if [[ $mode == --check ]]; then
  if ! diff -u "$chart/README.md" "$generated" >"$tmp/readme.diff" 2>&1; then
    cat "$tmp/readme.diff"
    echo "chart-docs: $chart/README.md is stale; run scripts/chart-docs.sh" >&2
    exit 1
  fi
  echo "chart-docs: ${chart#"$root"/}/README.md is up to date (helm-docs ${version})"
else
  cp "$generated" "$chart/README.md"
  echo "chart-docs: wrote ${chart#"$root"/}/README.md (helm-docs ${version})"
fi
