#!/bin/sh
# Installs everything wgsync's local stack and tests need on Debian 12, as root:
# the Debian packages (python3-ldap: the python-ldap anchor of `deno task bench`),
# Deno (pinned, from npm) and the cached dependencies.
# Idempotent; safe to run again.
set -eu

DENO_VERSION=2.9.6
PACKAGES="slapd ldap-utils krb5-kdc krb5-admin-server krb5-user kstart \
remctl-server remctl-client libsasl2-modules-gssapi-mit libgssapi-krb5-2 \
openssl systemd util-linux e2fsprogs mount chromium python3-ldap"

missing=""
for package in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "install.sh: installing Debian packages:$missing" >&2
  # Debian's maintainer scripts must not start slapd or the KDC system-wide.
  [ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if ! command -v deno >/dev/null 2>&1 || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  echo "install.sh: installing Deno $DENO_VERSION from npm" >&2
  npm install -g --silent "deno@$DENO_VERSION" >/dev/null 2>&1
fi

if ! command -v moto_server >/dev/null 2>&1; then
  echo "install.sh: installing moto's server (pip)" >&2
  pip install --quiet "moto[server]==5.2.1"
fi

cd "$(dirname "$0")/.."
deno install --frozen --quiet
# deno bundle (used by `deno task compile`) fetches esbuild from npm once.
bundle_dir=$(mktemp -d)
deno bundle --quiet --frozen --platform deno -o "$bundle_dir/ebs.js" roles/ebs.ts
rm -rf "$bundle_dir"
echo "install.sh: ready (deno $(deno --version | head -1 | cut -d' ' -f2))" >&2
