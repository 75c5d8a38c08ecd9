#!/usr/bin/env bash
# The one-command local demo: a real kube-apiserver + etcd, the SSM Contacts emulator, the
# operator, and a sample ContactChannelActivation, with its status printed.
#
#   scripts/demo.sh           start everything and leave it running (state in .demo/)
#   scripts/demo.sh down      stop everything the demo started
#   scripts/demo.sh --check   start, verify the sample becomes Ready with one code sent, stop
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
state="$root/.demo"
emulator_port=${DEMO_EMULATOR_PORT:-14566}
admin_port=${DEMO_ADMIN_PORT:-18080}
arn="arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/oncall/demo-sms"

down() {
  for name in operator emulator testenv; do
    if [[ -f "$state/$name.pid" ]]; then
      pid=$(cat "$state/$name.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$state/$name.pid"
    fi
  done
  echo "demo stopped"
}

if [[ "${1:-}" == "down" ]]; then
  down
  exit 0
fi
check=false
[[ "${1:-}" == "--check" ]] && check=true
if [[ -f "$state/testenv.pid" ]] && kill -0 "$(cat "$state/testenv.pid")" 2>/dev/null; then
  echo "a demo is already running; stop it with: scripts/demo.sh down" >&2
  exit 1
fi
mkdir -p "$state"

echo "== building (control plane once per machine, then the workspace binaries)"
bin=$(bash tools/testenv/build.sh | tail -n 1)
# shellcheck source=scripts/lib/cargo-bins.sh
source scripts/lib/cargo-bins.sh
cargo_build_bins debug
kubectl="$bin/kubectl --kubeconfig $state/kubeconfig"

if $check; then trap down EXIT; fi

echo "== starting kube-apiserver + etcd on 127.0.0.1"
rm -f "$state/kubeconfig"
"$cargo_bin/testenv" up --kubeconfig "$state/kubeconfig" --state-dir "$state/testenv" --pid-file "$state/testenv.pid" \
  >"$state/testenv.log" 2>&1 &
for _ in $(seq 1 600); do [[ -s "$state/kubeconfig" ]] && break; sleep 0.2; done
[[ -s "$state/kubeconfig" ]] || { echo "control plane did not start; see $state/testenv.log" >&2; tail -20 "$state/testenv.log" >&2; exit 1; }

echo "== starting the SSM Contacts emulator on 127.0.0.1:$emulator_port"
"$cargo_bin/ssm-contacts-emulator" --listen "127.0.0.1:$emulator_port" --seed-channel "$arn" >"$state/emulator.log" 2>&1 &
echo $! >"$state/emulator.pid"

echo "== installing the CRD"
$kubectl apply -f crds/
$kubectl wait --for=condition=Established --timeout=60s crd/contactchannelactivations.ssmcontacts.oncall.dev

echo "== starting the operator (admin server on 127.0.0.1:$admin_port)"
env AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  AWS_ENDPOINT_URL_SSM_CONTACTS="http://127.0.0.1:$emulator_port" KUBECONFIG="$state/kubeconfig" \
  "$cargo_bin/ssm-contacts-operator" --admin-addr "127.0.0.1:$admin_port" >"$state/operator.log" 2>&1 &
echo $! >"$state/operator.pid"

echo "== applying a sample ContactChannelActivation"
$kubectl apply -f - <<YAML
apiVersion: ssmcontacts.oncall.dev/v1alpha1
kind: ContactChannelActivation
metadata:
  name: oncall-sms
  namespace: default
spec:
  contactChannelId: $arn
  activationCodeSecretRef:
    name: oncall-sms-code
YAML
$kubectl wait --for=condition=Ready --timeout=60s cca/oncall-sms

echo
echo "== the person types the code from their phone (here: the emulator's journal) into a Secret"
# The code goes from the emulator straight into the Secret: never echoed, never in history.
curl -s "http://127.0.0.1:$emulator_port/_emulator/channels/$arn/code" |
  python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["code"])' |
  $kubectl create secret generic oncall-sms-code --from-file=code=/dev/stdin --dry-run=client -o yaml |
  $kubectl label --local -f - ssmcontacts.oncall.dev/activation-code=true -o yaml |
  $kubectl apply -f -
$kubectl wait --for=condition=Activated --timeout=60s cca/oncall-sms

echo
echo "== kubectl get cca -o wide"
$kubectl get cca -o wide
echo
echo "== kubectl describe cca oncall-sms (status and events)"
$kubectl describe cca oncall-sms | sed -n '/^Status:/,$p'
echo
echo "== emulator journal (every SSM Contacts call)"
curl -s "http://127.0.0.1:$emulator_port/_emulator/journal"; echo

sends=$(curl -s "http://127.0.0.1:$emulator_port/_emulator/journal?operation=SendActivationCode" | grep -o '"outcome":"ok"' | wc -l)
activated=$($kubectl get cca oncall-sms -o jsonpath='{.status.activationStatus}')
if $check; then
  [[ "$sends" -eq 1 ]] || { echo "expected exactly one SendActivationCode, saw $sends" >&2; exit 1; }
  [[ "$activated" == ACTIVATED ]] || { echo "expected the channel ACTIVATED, got '$activated'" >&2; exit 1; }
  echo "demo check passed: Ready, one activation code sent, channel activated from the Secret"
  exit 0
fi

cat <<EOF2

The demo is running. Poke at it:
  export KUBECONFIG=$state/kubeconfig
  $bin/kubectl get cca -o wide
  $bin/kubectl patch cca oncall-sms --type merge -p '{"spec":{"resendToken":"again"}}'   # one more code, after the channel's 60 s cooldown
  curl -s -X POST localhost:$emulator_port/_emulator/faults -H 'content-type: application/json' \\
       -d '{"operation":"SendActivationCode","error":"ThrottlingException","retryAfterSeconds":5,"times":1}'
  curl -s localhost:$emulator_port/_emulator/journal
  curl -s localhost:$admin_port/metrics
Logs: $state/{testenv,emulator,operator}.log
Tear down: scripts/demo.sh down
EOF2
