# Remote change detection by polling, for containers without inotifywait:
# sh -c "$script" ferry-watch ROOT INTERVAL LAG FULL TOKEN STATE_PARENT
# Every INTERVAL seconds it prints the paths (./PATH, one a line) whose mtime is newer
# than a marker file made LAG ticks earlier: a changed file, and the folder of a file
# created, deleted or renamed (that changes the folder's mtime), so deletions are seen
# without a full scan. LAG ticks span at least one second, because busybox find
# compares whole seconds; a change is therefore reported more than once, which is
# harmless: ferry treats lines as hints and re-lists them. ferry's own folders at the
# root are pruned: ./.ferry (its marker and fallback staging folder, when the sync
# folder is a mount point) and ./.ferry-tmp-*. Every FULL ticks it prints "TOKEN
# rescan" (ferry then lists everything, as a safety net). Control lines start
# with TOKEN, a random word from ferry, so no file name can forge one; "TOKEN tick"
# after every walk is also the sign of life ferry waits for. Ends when its stdin ends
# (ferry went away); the ticking loop checks every tick that this shell still lives,
# and is ended with SIGKILL (SIGTERM may be ignored: a process can inherit that).
LC_ALL=C
export LC_ALL
root=$1 iv=$2 lag=$3 full=$4 tok=$5
st=
for d in "$6" "${TMPDIR:-}" /tmp /var/tmp "${HOME:-}" "$root"; do
	[ -n "$d" ] && [ -d "$d" ] && mkdir "$d/.ferry-tmp-$$-w" 2>/dev/null && st=$d/.ferry-tmp-$$-w && break
done
if [ -z "$st" ]; then
	printf '%s failed no writable folder for the watcher state\n' "$tok"
	exit 2
fi
sweep "${st%/*}"
cd "$root" 2>/dev/null || {
	printf '%s failed cannot enter the sync folder\n' "$tok"
	rm -rf "$st"
	exit 2
}
k=$((lag + 1))
i=0
while [ "$i" -lt "$k" ]; do
	: >"$st/m$i"
	i=$((i + 1))
done
# Changes within the markers' second would not be newer for busybox find.
sleep 1
printf '%s ready\n' "$tok"
me=$$
(
	i=0
	while kill -0 "$me" 2>/dev/null; do
		sleep "$iv"
		i=$((i + 1))
		: >"$st/m$((i % k))"
		find . -path './.ferry-tmp-*' -prune -o -path ./.ferry -prune -o \
			-newer "$st/m$(((i + 1) % k))" -print 2>/dev/null
		printf '%s tick\n' "$tok"
		[ $((i % full)) = 0 ] && printf '%s rescan\n' "$tok"
	done
) </dev/null &
w=$!
trap 'kill -9 "$w" 2>/dev/null; rm -rf "$st"' EXIT
trap 'exit 1' HUP INT TERM PIPE
while read -r _; do :; done
