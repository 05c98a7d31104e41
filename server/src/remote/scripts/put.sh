# put LEN Z [MLEN]: the payload is a tar archive (gzip members when Z is z) of regular
# files and symlinks with paths relative to the root. With MLEN, a second payload lists
# every file of the archive as pairs of lines EXPECT and PATH, and a file lands only
# while its path in the container is still as ferry expects ("want"); otherwise the
# record "E changed PATH" (a container edit made after ferry looked is never replaced).
# It is extracted into a staging folder on the sync folder's mount ($stgbase, see
# cmd_stage: out of the sync folder where the container allows it, else inside it),
# then each file is moved into place with one rename, so a reader or watcher in the
# container only ever sees complete files (and, staged out of sight, nothing else), with
# the mode and mtime from the archive. Body: per-file failures ("E CODE PATH", maybe
# followed by "M MESSAGE"); everything else landed. When extraction fails (a full
# disk, …) nothing lands and the body is "X FREE MESSAGE": the bytes available to this
# user on the sync folder's file system (or -) and tar's first messages. The staging
# folder (.ferry-tmp-PID) stays for the session, empty but for folders, and goes when
# the session ends; it is removed at once if extraction fails.
cmd_put() {
	recv "$1" "$st/in" || desync
	if [ -n "$3" ]; then recv "$3" "$st/want" || desync; fi
	: >"$st/out"
	stg=$stgbase/.ferry-tmp-$$
	if [ ! -d "$stg" ] && ! mkdir "$stg" 2>"$st/e"; then
		fail 'cannot create the staging folder' "$st/e"
		return
	fi
	if [ "$2" = z ]; then
		gzip -dc <"$st/in" | tar "$tx" - -C "$stg" 2>"$st/e"
	else
		tar "$tx" "$st/in" -C "$stg" 2>"$st/e"
	fi
	if [ $? != 0 ]; then
		rm -rf "$stg"
		f=$(stat -f -c '%a %S' "$root" 2>/dev/null)
		case $f in
		*[!0-9\ ]* | '' | *' '*' '* | ' '* | *' ') f=- ;;
		*' '*) f=$((${f% *} * ${f#* })) ;;
		*) f=- ;;
		esac
		m=
		{ IFS= read -r a && m=$a && IFS= read -r a && m="$m; $a"; } <"$st/e"
		printf 'X %s %s\n' "$f" "$m" >"$st/out"
		send ok "$st/out"
		return
	fi
	if [ -n "$3" ]; then
		while IFS= read -r w && IFS= read -r p; do
			if want "$w" "$root/$p"; then
				land "$stg/$p" "$p"
			else
				rec changed "$p"
			fi
		done <"$st/want"
	else
		find "$stg" ! -type d >"$st/list"
		while IFS= read -r f; do
			land "$f" "${f#"$stg"/}"
		done <"$st/list"
	fi
	# Files that did not land must not land with a later upload.
	[ -s "$st/out" ] && rm -rf "$stg"
	send ok "$st/out"
}

# stage LEN: the payload names a folder (absolute; the marker's, on the sync folder's
# mount: see place.rs) where uploads are staged from now on, instead of the sync folder.
# The staging folder made so far goes, and that of killed sessions there is swept.
cmd_stage() {
	recv "$1" "$st/in" || desync
	d=
	IFS= read -r d <"$st/in"
	case $d in /*) ;; *)
		say err "not an absolute folder: $d"
		return
		;;
	esac
	if ! mkdir -p "$d" 2>"$st/e"; then
		fail 'cannot create the staging place' "$st/e"
		return
	fi
	rm -rf "$stgbase/.ferry-tmp-$$"
	stgbase=$d
	sweep "$d"
	say ok ''
}

# putf NAMELEN LEN MODE MTIME: one file without tar. Payloads: the relative path plus a
# newline, then the content. Lands like put; the mode needs chmod, the mtime touch.
cmd_putf() {
	recv "$1" "$st/name" || desync
	rel=
	IFS= read -r rel <"$st/name"
	stg=$stgbase/.ferry-tmp-$$
	[ -d "$stg" ] || mkdir "$stg" 2>"$st/e" || {
		fail 'cannot create the staging folder' "$st/e"
		return
	}
	recv "$2" "$stg/f" || desync
	: >"$st/out"
	[ -z "$has_chmod" ] || chmod "$3" "$stg/f"
	[ -z "$has_touch" ] || touch -d "@$4" "$stg/f"
	land "$stg/f" "$rel"
	rm -f "$stg/f"
	send ok "$st/out"
}

# land SRC REL: moves SRC to ROOT/REL in one rename (or, without mv, copies it over in
# place), creating missing parent folders. Refuses to replace a folder or a file the
# container user may not write (root may write anything). A symlink at REL is replaced,
# never followed.
land() {
	d=$root/$2
	case $2 in
	*/*)
		[ -d "${d%/*}" ] || mkdir -p "${d%/*}" 2>"$st/e" || {
			recm parent "$2"
			return
		}
		;;
	esac
	if [ -d "$d" ] && [ ! -L "$d" ]; then
		rec isdir "$2"
		return
	fi
	if [ -e "$d" ] && [ ! -w "$d" ]; then
		rec readonly "$2"
		return
	fi
	# mv would move the file into the folder a symlink points to: replace the link.
	if [ -L "$d" ] && [ -d "$d" ]; then rm -f "$d"; fi
	if [ -n "$has_mv" ]; then
		mv -f "$1" "$d" 2>"$st/e" || recm move "$2"
	else
		{ cat "$1" >"$d"; } 2>"$st/e" || {
			recm move "$2"
			return
		}
		[ -z "$has_chmod" ] || chmod "$(stat -c %a "$1")" "$d"
		[ -z "$has_touch" ] || touch -r "$1" "$d"
		rm -f "$1"
	fi
}

# want EXPECT FILE: whether FILE is as expected: EXPECT "*" (anything), "-" (nothing
# there), or "SIZE SECS" as stat -c '%s %Y' prints it for a regular file.
want() {
	case $1 in
	'*') return 0 ;;
	-) [ ! -e "$2" ] && [ ! -L "$2" ] ;;
	*) [ -f "$2" ] && [ ! -L "$2" ] && [ "$(stat -c '%s %Y' "$2" 2>/dev/null)" = "$1" ] ;;
	esac
}
