#!/usr/bin/env bash
# Runs every test on a fresh machine: builds the pinned control plane and the kstatus checker
# once (cached), installs the AWS CLI used as an independent wire-format client, then runs
# unit, property, emulator (AWS SDK + AWS CLI), control-plane and integration tests, and the
# packaging checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The AWS SDK's credential chain must never reach for the EC2 metadata address.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

echo "== control plane binaries (built once per machine; ~15 min cold)"
SSMC_TESTENV_BIN=$(bash tools/testenv/build.sh | tail -n 1)
export SSMC_TESTENV_BIN
echo "$SSMC_TESTENV_BIN"

# The integration tests judge the operator's status with kstatus itself (Flux's library);
# built here so that a build failure shows now, not as a failed scenario.
echo "== kstatus checker (built once per machine)"
SSMC_KSTATUS_BIN=$(bash tools/kstatus/build.sh | tail -n 1)
export SSMC_KSTATUS_BIN
echo "$SSMC_KSTATUS_BIN"

if ! command -v aws >/dev/null 2>&1; then
  echo "== installing the AWS CLI (PyPI) for the emulator's wire-format test"
  python3 -m pip install --quiet --disable-pip-version-check awscli
  # pip puts the `aws` script in the interpreter's scripts folder, which a version manager's
  # shims may not cover yet.
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
  hash -r
fi
aws --version

echo "== cargo test (unit, property, emulator, control plane, integration)"
cargo test --workspace --locked

for check in scripts/lint-chart.sh scripts/check-deploy.sh scripts/test-argocd-health.sh; do
  if [[ -f "$check" ]]; then
    echo "== $check"
    bash "$check"
  fi
done
