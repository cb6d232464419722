/**
 * The sandbox the boot test's systemd runs in (see boot.ts): the script that,
 * as PID 1 of the new namespaces, builds the overlay root, /proc, /sys, /dev
 * and the cgroup mount and execs systemd; the host units it masks; the test's
 * own boot target; the capabilities PID 1 may not pass on.
 *
 * @module
 */

/** Units of the host image that must not start in the sandbox. */
const MASKED = [
  "multi-user.target",
  "graphical.target",
  "timers.target",
  "getty.target",
  "console-getty.service",
  "avahi-daemon.socket",
  "avahi-daemon.service",
  "systemd-timesyncd.service",
  "systemd-pstore.service",
];

/** The test's own target: sysinit only. */
export const BOOT_TARGET = `[Unit]
Description=wgsync boot test: sysinit only, never multi-user.target
Requires=sysinit.target
After=sysinit.target
AllowIsolate=yes
`;

/** Capabilities PID 1 may not pass on: they reach the host. */
export const DROPPED_CAPABILITIES = [
  "sys_module",
  "sys_time",
  "sys_boot",
  "sys_rawio",
  "sys_pacct",
  "sys_tty_config",
  "audit_write",
  "audit_control",
  "audit_read",
  "mac_admin",
  "mac_override",
  "syslog",
  "wake_alarm",
  "block_suspend",
  "net_admin",
  "net_raw",
  "lease",
  "linux_immutable",
];

/** Runs inside the new namespaces as their PID 1, then execs systemd. */
export const ENTER = String.raw`
set -eu
W=$1 REPO=$2 DIST=$3 NAME=$4 CAPS=$5
R=$W/ns/root
mount -t tmpfs -o mode=0755 tmpfs "$W/ns"
mkdir "$W/ns/upper" "$W/ns/work" "$R"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/ns/upper,workdir=$W/ns/work" "$R"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$R/dev"
for spec in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
  set -- $spec
  mknod -m 666 "$R/dev/$1" c "$2" "$3"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
/usr/bin/python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
fcntl.ioctl(fd, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK
number = struct.unpack("i", fcntl.ioctl(fd, 0x80045430, b"\0\0\0\0"))[0]  # TIOCGPTN
with open(sys.argv[2] + ".tmp", "w") as f: f.write(str(number))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
with open(sys.argv[3], "ab", buffering=0) as log:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            time.sleep(0.1)
            continue
        log.write(data)
' "$R/dev/pts/ptmx" "$W/pty" "$W/console.log" </dev/null >/dev/null 2>"$W/pty.log" &
while [ ! -e "$W/pty" ]; do sleep 0.05; done
touch "$R/dev/console"
mount --bind "$R/dev/pts/$(cat "$W/pty")" "$R/dev/console"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$R/etc/machine-id"
: > "$R/etc/fstab"
hostname "$NAME"
echo "enter: $(date +%T.%N) root ready, installing" >&2
cp -a "$W/stage/." "$R/"
for unit in ${
  MASKED.join(" ")
}; do ln -sf /dev/null "$R/etc/systemd/system/$unit"; done
/usr/bin/deno run --frozen --cached-only --allow-all --config "$REPO/deno.json" \
  "$REPO/tasks/deploy.ts" install --root "$R" --dist "$DIST" >"$W/install.log" 2>&1
systemd-sysusers --root="$R" >>"$W/install.log" 2>&1
# The data volume wgsync-ebs checks: a tmpfs mounted before boot.
mkdir -p "$R/var/lib/wgsync"
mount -t tmpfs -o mode=0755 tmpfs "$R/var/lib/wgsync"
echo "enter: $(date +%T.%N) installed, starting systemd" >&2
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
exec env -i container="$NAME" setpriv --bounding-set "$CAPS" \
  /lib/systemd/systemd --system --unit=wgsync-boot.target --show-status=no
`;
