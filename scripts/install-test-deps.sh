#!/usr/bin/env bash
# Installs the real parts the tests run against, from Debian's packages, when they are missing:
# PostgreSQL (cluster database), SoftHSM2 (test HSM) + OpenSC's pkcs11-tool, swtpm (test TPM) + tpm2-tools, p11-kit (PKCS#11 remoting), openssl, sqlite3 (holds a database locked from another process),
# Chromium (the dashboard tests drive it headless through Playwright), QEMU + OVMF (a shielded VM's firmware boots
# against its vTPM, emulated: no KVM needed).
set -euo pipefail
need=()
check() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
check softhsm2-util softhsm2
check pkcs11-tool opensc
check swtpm swtpm
check swtpm_setup swtpm-tools
check tpm2_quote tpm2-tools
check p11-kit p11-kit
check openssl openssl
check sqlite3 sqlite3
[ -x /usr/bin/chromium ] || need+=(chromium)
check qemu-system-x86_64 qemu-system-x86
[ -e /usr/share/ovmf/OVMF.fd ] || need+=(ovmf)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -e /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so ] || [ -e /usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so ] || need+=(p11-kit-modules)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing test dependencies: ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
