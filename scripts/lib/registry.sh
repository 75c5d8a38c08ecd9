# Sourced by scripts that need an OCI registry of their own: an empty, in-memory registry
# (`crane registry serve`, go-containerregistry's) on 127.0.0.1 at a free port. Needs $crane
# (tools/crane/build.sh), $work (a folder for its log) and a `die` function.
#
#   start_registry   starts one and sets $registry to its host:port
#   stop_registry    stops the one started last (its blobs are gone with it)
#   stop_registries  stops every one still running (for an EXIT trap)
registry_pids=()

start_registry() {
  local logfile="$work/registry-${#registry_pids[@]}.log" port="" _
  # Made here, not by the child's redirect: the loop below may read it before the child runs.
  : >"$logfile"
  "$crane" registry serve --address 127.0.0.1:0 >"$logfile" 2>&1 &
  registry_pids+=($!)
  for _ in $(seq 100); do
    port=$(sed -nE 's/.*serving on port ([0-9]+).*/\1/p' "$logfile")
    [[ -n "$port" ]] && break
    kill -0 "${registry_pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$port" ]] || die "crane registry serve did not start: $(cat "$logfile")"
  registry=127.0.0.1:$port
}

stop_registry() {
  kill "${registry_pids[-1]}" 2>/dev/null || true
  wait "${registry_pids[-1]}" 2>/dev/null || true
  unset 'registry_pids[-1]'
}

stop_registries() {
  while ((${#registry_pids[@]})); do stop_registry; done
}
