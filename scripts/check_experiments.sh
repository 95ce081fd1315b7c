#!/usr/bin/env bash
# Says whether each patch in experiments/ still applies to this tree (a patch that does not must be
# rebased before a device call can build it: scripts/prebuild_device.sh), and checks the device
# scripts' syntax. Exit status 1 only for a script that does not parse; a stale patch is a warning.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for script in scripts/*.sh; do
  bash -n "$script" || { echo "check_experiments: $script does not parse"; status=1; }
done
for patch in experiments/*.patch; do
  [ -e "$patch" ] || continue
  if git apply --check "$patch" 2>/dev/null; then
    echo "check_experiments: $patch applies"
  else
    echo "check_experiments: WARNING: $patch no longer applies to this tree; rebase it before a device run"
  fi
done
exit $status
