# get LEN: the payload lists relative paths, one a line. Body: a tar archive of them
# (folders with their contents), written by the container's tar and parsed by ferry,
# which checks every path in it. A path that is missing is simply absent (none at all:
# an empty body). When tar fails (a file it cannot read, one that changed while it was
# read) the reply is err with tar's messages and nothing of the archive is sent.
cmd_get() {
	recv "$1" "$st/in" || desync
	set --
	while IFS= read -r p; do
		if [ -e "$root/$p" ] || [ -L "$root/$p" ]; then set -- "$@" "./$p"; fi
	done <"$st/in"
	rm -f "$st/out"
	if [ $# = 0 ]; then
		say ok ''
		return
	fi
	# GNU tar decodes \n, \t, \\ and \0 in names on its command line unless told not to.
	if [ "$tarv" = gnu ]; then
		(cd "$root" && tar cf "$st/out" --no-unquote "$@") 2>"$st/e"
	else
		(cd "$root" && tar cf "$st/out" "$@") 2>"$st/e"
	fi
	r=$?
	if [ "$r" = 0 ] && [ -f "$st/out" ]; then
		send ok "$st/out"
	else
		fail "tar failed (status $r)" "$st/e"
	fi
	rm -f "$st/out"
}

# getf LEN: like get, without tar, for regular files only. Body, per listed path in
# order: "F INDEX MODEHEX MTIME SIZE" and SIZE bytes of content, or "E INDEX CODE"
# (missing, notfile, read). No names travel back: INDEX is the line number from 0.
cmd_getf() {
	recv "$1" "$st/in" || desync
	: >"$st/out"
	i=0
	while IFS= read -r p; do
		f=$root/$p
		if [ ! -e "$f" ] && [ ! -L "$f" ]; then
			printf 'E %s missing\n' "$i" >>"$st/out"
		elif [ -L "$f" ] || [ ! -f "$f" ]; then
			printf 'E %s notfile\n' "$i" >>"$st/out"
		elif cat "$f" >"$st/f" 2>/dev/null; then
			printf 'F %s %s %s\n' "$i" "$(stat -c '%f %Y' "$f")" "$(stat -c %s "$st/f")" >>"$st/out"
			cat "$st/f" >>"$st/out"
		else
			printf 'E %s read\n' "$i" >>"$st/out"
		fi
		i=$((i + 1))
	done <"$st/in"
	rm -f "$st/f"
	send ok "$st/out"
}
