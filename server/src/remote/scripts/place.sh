# place: where ferry may keep its marker for the sync folder. One line per folder:
# "P NAME WRITABLE DEV PATH" for the sync folder itself (NAME root) and the candidates
# parent, home ($HOME) and tmp (/tmp): WRITABLE 1 or 0, DEV from stat -c %d, PATH the
# physical path (pwd -P; last, so spaces are fine; a path with a newline is left out).
# Then /proc/self/mountinfo as "M LINE" lines, when it can be read. ferry chooses.
cmd_place() {
	: >"$st/out"
	for n in root parent home tmp; do
		case $n in
		root) d=$root ;;
		parent)
			[ "$root" = / ] && continue
			d=${root%/*}
			[ -n "$d" ] || d=/
			;;
		home)
			d=${HOME:-}
			[ -n "$d" ] || continue
			;;
		*) d=/tmp ;;
		esac
		p=$(cd "$d" 2>/dev/null && pwd -P) || continue
		case $p in *"$nl"*) continue ;; esac
		v=$(stat -c %d "$p" 2>/dev/null) || continue
		if [ -w "$p" ] || [ -w "$p/.ferry" ]; then w=1; else w=0; fi
		printf 'P %s %s %s %s\n' "$n" "$w" "$v" "$p" >>"$st/out"
	done
	if [ -r /proc/self/mountinfo ]; then
		while IFS= read -r l; do
			printf 'M %s\n' "$l"
		done </proc/self/mountinfo >>"$st/out"
	fi
	send ok "$st/out"
}

# mark LEN r|w: the container marker. The payload holds the marker folder (absolute)
# and a fresh token, a line each. DIR/marker holds "ferry-marker 1 TOKEN GENERATION".
# With w the generation goes up by one (a missing or unreadable marker is replaced by
# the fresh token and generation 1). Reply body: "K TOKEN BEFORE AFTER INODE" (BEFORE 0:
# there was no valid marker; AFTER = BEFORE: nothing written; INODE: the sync folder's),
# then "E MESSAGE" when writing failed.
cmd_mark() {
	recv "$1" "$st/in" || desync
	{
		IFS= read -r dir
		IFS= read -r new
	} <"$st/in"
	t=
	g=0
	if [ -f "$dir/marker" ] && read -r m v t2 g2 x <"$dir/marker" 2>/dev/null; then
		case $m.$v.$g2 in
		ferry-marker.1.*[!0-9]* | ferry-marker.1. | ferry-marker.1.0* | ferry-marker.1.????????????????*) ;;
		ferry-marker.1.*)
			case $t2 in '' | *[!A-Za-z0-9]*) ;; *) t=$t2 g=$g2 ;; esac
			;;
		esac
	fi
	a=$g
	: >"$st/e"
	if [ "$2" = w ]; then
		[ -n "$t" ] || t=$new
		n=$((g + 1))
		# { …; } 2>: a failed redirection's own message is captured too.
		if mkdir -p "$dir" 2>"$st/e" &&
			{ printf 'ferry-marker 1 %s %s\n' "$t" "$n" >"$dir/marker.new"; } 2>"$st/e"; then
			if [ -n "$has_mv" ]; then
				mv -f "$dir/marker.new" "$dir/marker" 2>"$st/e"
			else
				{ cat "$dir/marker.new" >"$dir/marker"; } 2>"$st/e" && rm -f "$dir/marker.new"
			fi
			read -r m v t2 g2 x <"$dir/marker" 2>/dev/null
			[ "$t2 $g2" = "$t $n" ] && a=$n
		fi
	fi
	printf 'K %s %s %s %s\n' "${t:--}" "$g" "$a" "$(stat -c %i "$root" 2>/dev/null)" >"$st/out"
	if [ "$2" = w ] && [ "$a" = "$g" ]; then
		m=
		IFS= read -r m <"$st/e"
		printf 'E %s\n' "${m:-the marker could not be written}" >>"$st/out"
	fi
	send ok "$st/out"
}
