# list LEN DEPTH: stats every entry at or below the paths of the payload (one relative
# path a line, "." for the root); DEPTH is 1 (the path and its children) or r (the
# whole subtree). Body: first "T MTIME", the container's clock (the mtime of a file
# touched now, in the listing's format); then, per path I (from 0, in payload order),
# one line "MODEHEX SIZE MTIME ./PATH" per entry (stat -c; the name is last, so spaces
# are fine), "! ./PATH" for a name holding a newline, with each newline written as \n
# (such a subtree is pruned, since its lines could not be told apart), then
# "W I TEXT" for each line find or stat wrote to stderr and "F I STATUS" when find
# exited non-zero: ferry reads the paths out of them, so an unreadable folder is
# unknown, never empty. ferry's own temporary folders (./.ferry-tmp-*) are skipped. A
# missing path gives only its W and F lines. (The newline branch uses "{} ;": busybox
# find 1.35 never runs a "{} +" batch that sits inside parentheses.)
cmd_list() {
	recv "$1" "$st/in" || desync
	rm -f "$st/now"
	: >"$st/now"
	printf 'T %s\n' "$(stat -c "$tf" "$st/now" 2>/dev/null)" >"$st/out"
	if [ "$2" = 1 ] && [ -n "$fmd" ]; then set -- -maxdepth 1; else set --; fi
	if ! cd "$root" 2>"$st/e"; then
		fail 'cannot enter the sync folder' "$st/e"
		return
	fi
	i=0
	while IFS= read -r p; do
		[ "$p" = . ] && s=. || s=./$p
		find "$s" "$@" \( -path './.ferry-tmp-*' -prune \) -o \
			\( -path "*$nl*" -prune -exec sh -c "$esc" ferry-esc "$nl" {} \; \) -o \
			-exec stat -c "$sf" {} + >>"$st/out" 2>"$st/e"
		r=$?
		while IFS= read -r l || [ -n "$l" ]; do
			printf 'W %s %s\n' "$i" "$l"
		done <"$st/e" >>"$st/out"
		[ "$r" = 0 ] || printf 'F %s %s\n' "$i" "$r" >>"$st/out"
		i=$((i + 1))
	done <"$st/in"
	cd /
	send ok "$st/out"
}

# Run by find for names holding a newline ($1 is a newline, then the paths).
esc='n=$1
shift
for p do
	r=
	while :; do
		case $p in
		*"$n"*)
			r=$r${p%%"$n"*}\\n
			p=${p#*"$n"}
			;;
		*)
			r=$r$p
			break
			;;
		esac
	done
	printf "! %s\n" "$r"
done'
