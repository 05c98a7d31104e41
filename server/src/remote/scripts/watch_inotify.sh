# Remote change detection with inotifywait (-m -r), when the container has it:
# sh -c "$script" ferry-watch ROOT TOKEN
# Prints inotifywait's events as "E EVENTS ./PATH" lines (hints: ferry re-lists each
# path) and its own messages ("Watches established." marks readiness); a guard prints
# "TOKEN alive" about every 5 s, so ferry can tell a stalled watcher from a quiet
# folder. Nothing at or below ./.ferry (ferry's marker and fallback staging folder, when
# the sync folder is a mount point) or a ./.ferry-tmp-* folder is reported: --exclude
# (inotify-tools: a POSIX extended regular expression, matched against "%w%f"). When inotifywait ends (watch limit, sync folder gone, killed) this shell,
# its parent, reaps it at once and prints "TOKEN failed ..."; ferry then starts a new
# watcher or falls back to polling.
#
# The end is certain without relying on SIGTERM (a process can inherit it ignored,
# and a shell cannot trap what was ignored on entry): everything is ended with
# SIGKILL, and three things can each do it. The reader (the only process reading
# ferry's stream) ends everything when the stream ends: clean stop, dropped stream,
# ferry killed. The guard ends everything when this shell is gone, even killed. This
# shell, waiting on inotifywait, ends everything when it exits.
LC_ALL=C
export LC_ALL
root=$1 tok=$2
cd "$root" 2>/dev/null || {
	printf '%s failed cannot enter the sync folder\n' "$tok"
	exit 2
}
me=$$
# fd 3: ferry's stream, for the reader alone; everything else reads /dev/null.
exec 3<&0 </dev/null
inotifywait -m -r -e close_write -e create -e delete -e moved_from -e moved_to -e attrib \
	-e delete_self -e move_self --exclude '^\./\.ferry(-tmp-|/|$)' --format 'E %e %w%f' . 2>&1 3<&- &
w=$!
(
	while read -r _; do :; done
	kill -9 "$w" 2>/dev/null
) <&3 3<&- &
r=$!
(
	n=0
	while kill -0 "$me" 2>/dev/null; do
		sleep 1
		n=$((n + 1))
		if [ "$n" -ge 5 ]; then
			n=0
			printf '%s alive\n' "$tok"
		fi
	done
	kill -9 "$w" "$r" 2>/dev/null
) 3<&- &
g=$!
exec 3<&-
trap 'kill -9 "$w" "$r" "$g" 2>/dev/null' EXIT
trap 'exit 1' HUP INT TERM PIPE
wait "$w"
printf '%s failed inotifywait ended\n' "$tok"
