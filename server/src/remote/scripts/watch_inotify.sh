# Remote change detection with inotifywait (-m -r), when the container has it:
# sh -c "$script" ferry-watch ROOT TOKEN
# Prints inotifywait's events as "E EVENTS ./PATH" lines (hints: ferry re-lists each
# path) and its own messages ("Watches established." marks readiness). When
# inotifywait ends (watch limit, sync folder gone) it prints "TOKEN failed ..." and
# ferry falls back to polling. Ends when its stdin ends (ferry went away); a guard
# kills inotifywait when this shell is gone, even if it was killed.
LC_ALL=C
export LC_ALL
root=$1 tok=$2
cd "$root" 2>/dev/null || {
	printf '%s failed cannot enter the sync folder\n' "$tok"
	exit 2
}
inotifywait -m -r -e close_write -e create -e delete -e moved_from -e moved_to -e attrib \
	-e delete_self -e move_self --exclude '^\./\.ferry-tmp-' --format 'E %e %w%f' . 2>&1 </dev/null &
w=$!
me=$$
(
	while kill -0 "$me" 2>/dev/null && kill -0 "$w" 2>/dev/null; do
		sleep 1
	done
	if kill -0 "$me" 2>/dev/null; then
		printf '%s failed inotifywait ended\n' "$tok"
	else
		kill "$w" 2>/dev/null
	fi
) </dev/null &
g=$!
trap 'kill "$w" "$g" 2>/dev/null' EXIT
trap 'exit 1' HUP INT TERM PIPE
while read -r _; do :; done
