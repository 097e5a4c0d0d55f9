#!/usr/bin/env bash
# package_test.sh BUILD_DIR SOURCE_DIR: the install layout, the .deb and its systemd unit.
#  1. `cmake --install` with the prefix /usr into a staging DESTDIR lays out every file;
#  2. cpack builds the .deb; dpkg-deb lists the same files, marks /etc as conffiles, and its
#     Depends name installed Debian packages of the libraries the binary links;
#  3. `dpkg --root` installs it into an empty scratch root, whose binary answers --help and
#     checks the shipped config and policy;
#  4. `systemd-analyze verify` accepts the unit in that root, and `systemd-analyze security`
#     rates it at or below the exposure recorded in docs/PACKAGE.md.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. cmake --install
DESTDIR="$work/stage" cmake --install "$build" --prefix /usr >"$work/install.log"
for f in usr/bin/mcp-auth-broker lib/systemd/system/mcp-auth-broker.service \
  etc/mcp-auth-broker/config.yaml etc/mcp-auth-broker/policy.yaml \
  etc/mcp-auth-broker/environment usr/share/mcp-auth-broker/sql/001_init.sql \
  usr/share/doc/mcp-auth-broker/examples/production.example.yaml \
  usr/share/doc/mcp-auth-broker/examples/policies/orgs-and-teams.yaml; do
  [[ -e "$work/stage/$f" ]] || fail "cmake --install did not lay out /$f"
done
[[ $(stat -c %a "$work/stage/etc/mcp-auth-broker/environment") == 600 ]] ||
  fail "the environment file (secrets) is not 0600"
grep -q '^ExecStart=/usr/bin/mcp-auth-broker --config /etc/mcp-auth-broker/config.yaml serve$' \
  "$work/stage/lib/systemd/system/mcp-auth-broker.service" || fail "ExecStart does not name /usr/bin"
# Another prefix keeps everything under it.
DESTDIR="$work/opt" cmake --install "$build" --prefix /opt/mab >/dev/null
[[ -e "$work/opt/opt/mab/etc/mcp-auth-broker/config.yaml" &&
  -e "$work/opt/opt/mab/lib/systemd/system/mcp-auth-broker.service" ]] ||
  fail "--prefix /opt/mab put files outside the prefix"
echo "ok: cmake --install layout"

# 2. cpack -G DEB
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/deb" >"$work/cpack.log") ||
  { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/deb/*.deb)
dpkg-deb -c "$deb" >"$work/listing"
awk '{print $6}' "$work/listing" | sed 's|^\./|/|' >"$work/contents"
for f in /usr/bin/mcp-auth-broker /lib/systemd/system/mcp-auth-broker.service \
  /etc/mcp-auth-broker/config.yaml /etc/mcp-auth-broker/policy.yaml \
  /etc/mcp-auth-broker/environment /usr/share/mcp-auth-broker/sql/001_init.sql \
  /usr/share/doc/mcp-auth-broker/examples/policies/dev.yaml; do
  grep -qx "$f" "$work/contents" || fail "the .deb lacks $f"
done
if grep -E '^/usr/(local|etc)/|^/home|^/tmp|^/root' "$work/contents"; then
  fail "the .deb has files outside the FHS places"
fi
grep -q '^-rw------- root/root .*\./etc/mcp-auth-broker/environment$' "$work/listing" ||
  fail "the environment file is not root:root 0600 in the .deb"
dpkg-deb -I "$deb" conffiles >"$work/conffiles"
grep -qx /etc/mcp-auth-broker/config.yaml "$work/conffiles" || fail "config.yaml is no conffile"
grep -qx /etc/mcp-auth-broker/policy.yaml "$work/conffiles" || fail "policy.yaml is no conffile"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for pkg in libpistache0 libpqxx- libyaml-cpp libssl3 libcurl4 libsqlite3-0; do
  grep -q "$pkg" <<<"$depends" || fail "Depends does not name $pkg"
done
# Every package named is a real Debian package, installed here since the build used it.
tr ',' '\n' <<<"$depends" | sed 's/(.*//; s/|.*//; s/ //g' | grep -v '^$' >"$work/depends"
while read -r pkg; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
    fail "Depends names $pkg, which is not an installed package"
done <"$work/depends"
# Every shared library the binary needs comes from a package that Depends names.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
readelf -d "$build/mcp-auth-broker" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' |
  while read -r lib; do
    path=$(ldconfig -p | awk -v l="$lib" -v m="/$multiarch/" '$1 == l && index($NF, m) { print $NF; exit }')
    owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null) ||
      fail "no package owns $lib ($path)"
    owner=${owner%%:*}
    grep -qxF -- "$owner" "$work/depends" || fail "Depends lacks $owner (for $lib)"
  done
echo "ok: .deb contents, conffiles and Depends"

# 3. dpkg --root: an empty root with its own dpkg database.
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# The root holds none of the libraries: their packages are checked above, not installed here.
dpkg --root="$root" --force-depends --force-not-root --log=/dev/null -i "$deb" >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log"; fail "dpkg --root -i"; }
dpkg --root="$root" -s mcp-auth-broker | grep -q '^Status: install ok installed' ||
  fail "dpkg does not record the package as installed"
"$root/usr/bin/mcp-auth-broker" --help >"$work/help" || fail "--help of the installed binary"
grep -q 'policy' "$work/help" || fail "--help does not list the commands"
"$root/usr/bin/mcp-auth-broker" policy check "$root/etc/mcp-auth-broker/policy.yaml" >/dev/null ||
  fail "the shipped policy fails its own check"
# The shipped config parses, and refuses to start without the secrets it names.
out=$(cd "$root" && "$root/usr/bin/mcp-auth-broker" --config "$root/etc/mcp-auth-broker/config.yaml" \
  keys list 2>&1) && fail "the shipped config started without secrets"
grep -q 'master key' <<<"$out" || fail "the shipped config failed for another reason: $out"
echo "ok: dpkg --root install, --help, shipped policy and config"

# 4. The unit: verify it offline in the scratch root, and rate its hardening.
# The root gets what any systemd system has: its units (sysinit.target...) and kill for reload.
unit="$root/lib/systemd/system/mcp-auth-broker.service"
cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
mkdir -p "$root/bin" && cp "$(readlink -f /bin/kill)" "$root/bin/kill"
verify() { systemd-analyze verify --root="$root" "/lib/systemd/system/$1" 2>&1; }
out=$(verify mcp-auth-broker.service) || { echo "$out"; fail "systemd-analyze verify"; }
[[ -z "$out" ]] || { echo "$out"; fail "systemd-analyze verify reported problems"; }
# The same check notices a mistake in a unit.
sed 's/^ProtectSystem=/ProtectSytem=/' "$unit" >"$root/lib/systemd/system/broken.service"
out=$(verify broken.service) || true
grep -q 'ProtectSytem' <<<"$out" || fail "systemd-analyze verify did not notice a misspelt key"
security=$(systemd-analyze security --offline=true "$unit" 2>&1 | tail -1)
echo "$security"
score=$(sed -n 's/.*exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$security")
[[ -n "$score" ]] || fail "no exposure score in: $security"
recorded=$(sed -n 's/.*`systemd-analyze security` exposure: \([0-9.]*\).*/\1/p' "$src/docs/PACKAGE.md")
[[ -n "$recorded" ]] || fail "docs/PACKAGE.md records no exposure score"
awk -v s="$score" -v r="$recorded" 'BEGIN { exit !(s <= r) }' ||
  fail "the unit's exposure $score is worse than the $recorded recorded in docs/PACKAGE.md"
echo "ok: systemd-analyze verify, security $score (recorded $recorded)"
