#!/usr/bin/env bash
# Runs the integration suite (`cargo test --test integration`) against each supported
# Kubernetes minor: builds that minor's control plane (tools/testenv/build.sh --kube 1.Y, once
# per machine, 6-12 minutes cold on 2 cores), points SSMC_TESTENV_BIN at it, runs the suite, and
# prints a summary table (version, passed, failed, build and test duration).
#
#   scripts/test-matrix.sh                            every pinned minor (build.sh --list)
#   scripts/test-matrix.sh 1.33 1.36                  those minors
#   scripts/test-matrix.sh --versions oldest,newest   the oldest and the newest pinned minor (CI)
#   scripts/test-matrix.sh --no-doc ...               do not touch docs/compatibility.md
#   scripts/test-matrix.sh 1.33 -- <filter>           arguments after -- go to the test binary
#
# Unless --no-doc is given, the rows of the minors that ran replace theirs in the table of
# docs/compatibility.md (between the test-matrix markers), with the date, commit and machine.
# Each minor's full output is kept in <cargo target dir>/test-matrix/<minor>.log.
# Exits non-zero when a minor fails to build or any scenario fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# As scripts/test.sh: the AWS SDK's credential chain must never reach for the EC2 metadata
# address, and the emulator takes any key.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

mapfile -t pinned < <(bash tools/testenv/build.sh --list)
minors=()
for line in "${pinned[@]}"; do minors+=("${line%% *}"); done
oldest=${minors[0]}
newest=${minors[${#minors[@]} - 1]}
tag_of() {
  local line
  for line in "${pinned[@]}"; do
    [[ "${line%% *}" == "$1" ]] && echo "${line#* }" && return 0
  done
  return 1
}

selected=()
write_doc=1
test_args=()
while (($#)); do
  case $1 in
    --versions) (($# >= 2)) || usage; IFS=, read -ra more <<<"$2"; selected+=("${more[@]}"); shift 2 ;;
    --versions=*) IFS=, read -ra more <<<"${1#--versions=}"; selected+=("${more[@]}"); shift ;;
    --no-doc) write_doc=0; shift ;;
    -h | --help) usage ;;
    --) shift; test_args=("$@"); break ;;
    -*) usage ;;
    *) selected+=("$1"); shift ;;
  esac
done
((${#selected[@]})) || selected=("${minors[@]}")

versions=()
for v in "${selected[@]}"; do
  case $v in
    oldest) v=$oldest ;;
    newest) v=$newest ;;
    *) v=${v#v}; [[ "$v" =~ ^1\.[0-9]+ ]] && v=${BASH_REMATCH[0]} ;;
  esac
  if ! tag_of "$v" >/dev/null; then
    echo "test-matrix: Kubernetes '$v' is not pinned (pinned: ${minors[*]})" >&2
    exit 2
  fi
  [[ " ${versions[*]} " == *" $v "* ]] || versions+=("$v")
done

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -nE 's/.*"target_directory":"([^"]*)".*/\1/p')
logs="${target_dir:-target}/test-matrix"
mkdir -p "$logs"

duration() { printf '%dm %02ds' $(($1 / 60)) $(($1 % 60)); }

# One build of the suite for every minor, so all of them run the same code even if the tree
# changes meanwhile; the binary is what `cargo test --test integration` runs, from the same
# folder (the package root).
echo "== building the integration suite once (cargo test --test integration --no-run)"
suite=$(cargo test --test integration --locked --no-run --message-format=json-render-diagnostics |
  grep -E '"target":\{[^}]*"name":"integration"' |
  sed -nE 's/.*"executable":"([^"]+)".*/\1/p' | tail -n 1)
if [[ ! -x "$suite" ]]; then
  echo "test-matrix: cargo built no integration test binary" >&2
  exit 1
fi
echo "$suite"
# The code under test, for the doc (GIT_OPTIONAL_LOCKS=0: reading only, no index refresh).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null)" ]] ||
  commit="$commit + local changes"

rows=()
failed_any=0
for v in "${versions[@]}"; do
  tag=$(tag_of "$v")
  log="$logs/$v.log"
  echo "== Kubernetes $v ($tag): control plane (tools/testenv/build.sh --kube $v)"
  started=$SECONDS
  if ! bin=$(bash tools/testenv/build.sh --kube "$v" | tail -n 1) || [[ -z "$bin" ]]; then
    build_s=$((SECONDS - started))
    rows+=("| $v | $tag | build failed | - | - | $(duration "$build_s") | - |")
    failed_any=1
    continue
  fi
  build_s=$((SECONDS - started))
  build=$(duration "$build_s")
  ((build_s < 5)) && build="cached"
  echo "$bin ($("$bin/kube-apiserver" --version); build: $build)"

  echo "== Kubernetes $v ($tag): the integration suite (log: $log)"
  started=$SECONDS
  set +e
  SSMC_TESTENV_BIN=$bin "$suite" "${test_args[@]}" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  test_s=$((SECONDS - started))

  # libtest's summary: "test result: ok. 31 passed; 0 failed; 0 ignored; ...".
  summary=$(grep -E '^test result: ' "$log" | tail -n 1 || true)
  passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
  failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
  failures=$(sed -nE 's/^test ([^ ]+) +\.\.\. FAILED$/\1/p' "$log" | paste -sd, - | sed 's/,/, /g')
  if [[ -z "$summary" ]]; then
    result="no result (exit $status; see the log)"
    passed=- failed=-
    failed_any=1
  elif ((status != 0 || failed > 0)); then
    result="FAILED: ${failures:-exit $status}"
    failed_any=1
  else
    result="passed"
  fi
  rows+=("| $v | $tag | $result | $passed | $failed | $build | $(duration "$test_s") |")
done

header=("| Kubernetes | pinned tag | result | passed | failed | control plane build | integration suite |"
  "| --- | --- | --- | ---: | ---: | ---: | ---: |")
echo
echo "== Kubernetes matrix (cargo test --test integration; logs in $logs/)"
printf '%s\n' "${header[@]}" "${rows[@]}"

if ((write_doc)); then
  doc=docs/compatibility.md
  if [[ -f "$doc" ]] && grep -q '^<!-- test-matrix:begin' "$doc"; then
    cpu=$(sed -nE 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
    when="$(date -u +%Y-%m-%d), commit $commit, $(uname -sm), $(nproc) cores${cpu:+ ($cpu)}"
    stamped=()
    for row in "${rows[@]}"; do stamped+=("${row} ${when} |"); done
    tmp=$(mktemp)
    # Rows of the minors that did not run now are kept; all rows go back in version order.
    {
      sed -n '/^<!-- test-matrix:begin/,/^<!-- test-matrix:end/p' "$doc" | { grep -E '^\| 1\.' || true; } |
        while IFS= read -r row; do
          minor=${row#| }
          minor=${minor%% *}
          [[ " ${versions[*]} " == *" $minor "* ]] || printf '%s\n' "$row"
        done
      printf '%s\n' "${stamped[@]}"
    } | sort -t'|' -k2,2V >"$tmp.rows"
    awk -v rows="$tmp.rows" '
      /^<!-- test-matrix:begin/ {
        print
        print "| Kubernetes | pinned tag | result | passed | failed | control plane build | integration suite | run (UTC date, commit, machine) |"
        print "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"
        while ((getline line < rows) > 0) print line
        inside = 1
        next
      }
      /^<!-- test-matrix:end/ { inside = 0 }
      !inside { print }
    ' "$doc" >"$tmp"
    cat "$tmp" >"$doc"
    rm -f "$tmp" "$tmp.rows"
    echo "updated $doc"
  else
    echo "test-matrix: $doc has no test-matrix markers; not updated" >&2
  fi
fi

exit "$failed_any"
