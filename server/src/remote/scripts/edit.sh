# rm LEN [c]: removes the listed paths (files, symlinks, folders with their contents). A
# path that is already gone is fine. Body: "E rm PATH" + "M MESSAGE" per failure. With c
# the payload holds pairs of lines "SIZE SECS" and PATH, and a file or symlink is removed
# only while `stat -c '%s %Y'` still prints exactly that ("E changed PATH" otherwise): a
# file the container changed after ferry listed it is never deleted.
cmd_rm() {
	recv "$1" "$st/in" || desync
	: >"$st/out"
	while { [ "$2" != c ] || IFS= read -r want; } && IFS= read -r p; do
		f=$root/$p
		if [ "$2" = c ] && { [ -e "$f" ] || [ -L "$f" ]; }; then
			if [ -d "$f" ] && [ ! -L "$f" ] || [ "$(stat -c '%s %Y' "$f" 2>/dev/null)" != "$want" ]; then
				rec changed "$p"
				continue
			fi
		fi
		rm -rf "$f" 2>"$st/e"
		if [ -e "$f" ] || [ -L "$f" ]; then recm rm "$p"; fi
	done <"$st/in"
	send ok "$st/out"
}

# rmdir LEN: removes the listed folders if they are empty; a folder that still holds
# something is kept ("E rm PATH" + the tool's message). A path already gone is fine.
cmd_rmdir() {
	recv "$1" "$st/in" || desync
	: >"$st/out"
	while IFS= read -r p; do
		f=$root/$p
		if [ -d "$f" ] && [ ! -L "$f" ]; then
			rmdir "$f" 2>"$st/e" || recm rm "$p"
		fi
	done <"$st/in"
	send ok "$st/out"
}

# mkdir LEN: creates the listed folders and their parents. Body: failures.
cmd_mkdir() {
	recv "$1" "$st/in" || desync
	: >"$st/out"
	while IFS= read -r p; do
		mkdir -p "$root/$p" 2>"$st/e" || recm mkdir "$p"
	done <"$st/in"
	send ok "$st/out"
}

# mv LEN: the payload holds pairs of lines FROM, TO; each FROM is renamed to TO (a file
# replaces a file; a folder in the way is an error). Body: failures, under FROM.
cmd_mv() {
	recv "$1" "$st/in" || desync
	: >"$st/out"
	while IFS= read -r a && IFS= read -r b; do
		s=$root/$a
		d=$root/$b
		if [ ! -e "$s" ] && [ ! -L "$s" ]; then
			rec missing "$a"
		elif [ -d "$d" ] && [ ! -L "$d" ]; then
			rec isdir "$a"
		else
			case $b in */*) [ -d "${d%/*}" ] || mkdir -p "${d%/*}" 2>/dev/null ;; esac
			if [ -L "$d" ] && [ -d "$d" ]; then rm -f "$d"; fi
			mv -f "$s" "$d" 2>"$st/e" || recm move "$a"
		fi
	done <"$st/in"
	send ok "$st/out"
}
