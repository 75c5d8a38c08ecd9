# Sourced by the tools' build scripts: a pinned tool is built once per machine.
#
#   build_once BIN NOTE COMMAND...
#     prints BIN; when it is not there yet, first says NOTE on stderr and runs COMMAND, which
#     must write BIN. Under a lock beside BIN's folder: two cold builds at once (test
#     processes, scripts, CI's background builds) do not race, the second finds it done.
build_once() {
  local bin=$1 note=$2 dir
  shift 2
  if [[ ! -x "$bin" ]]; then
    dir=$(dirname "$bin")
    mkdir -p "$dir"
    exec 9>"$dir.lock"
    flock 9
    if [[ ! -x "$bin" ]]; then
      echo "$note" >&2
      "$@"
      [[ -x "$bin" ]] || {
        echo "$note: finished without writing $bin" >&2
        return 1
      }
    fi
    exec 9>&-
  fi
  echo "$bin"
}
