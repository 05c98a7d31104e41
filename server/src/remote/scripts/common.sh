# ferry remote session: helpers shared by every command. Everything ferry sends the
# container is data: file names arrive in payload files or tar archives, never in
# shell text, and are always used quoted.
#
# Reply framing (container -> ferry): a header line "STATUS LEN", then exactly LEN
# bytes of body. STATUS is ok (done), err (failed as a whole; body is the reason) or
# ack (send the payload now). File content only ever travels inside a body.

# say STATUS TEXT: a reply whose body is TEXT (LC_ALL=C makes ${#} count bytes).
say() {
	printf '%s %s\n%s' "$1" "${#2}" "$2"
}

# send STATUS FILE: a reply whose body is the contents of FILE.
send() {
	if [ ! -s "$2" ]; then
		printf '%s 0\n' "$1"
		return
	fi
	set -- "$1" "$2" "$(stat -c %s "$2")"
	printf '%s %s\n' "$1" "$3"
	cat "$2"
}

# fail WHAT FILE: an err reply "WHAT: <contents of FILE>" (FILE holds a tool's stderr).
fail() {
	{
		printf '%s: ' "$1"
		cat "$2" 2>/dev/null
	} >"$st/r"
	send err "$st/r"
}

# recv LEN FILE: acknowledges, then reads exactly LEN payload bytes into FILE. Nothing
# else waits in the pipe meanwhile (ferry sends the payload only after the ack and the
# next header only after the reply), so a reader that reads ahead (busybox head)
# cannot take bytes of the next message. With the reader "esc" the payload is lines of
# printf escapes ending with an empty line (only shell builtins), and LEN is the
# decoded size.
recv() {
	say ack ''
	case $rd in
	head) head -c "$1" >"$2" ;;
	ddc) dd bs=65536 count="$1" iflag=fullblock,count_bytes 2>/dev/null >"$2" ;;
	dd1) dd bs=1 count="$1" 2>/dev/null >"$2" ;;
	*)
		while IFS= read -r l && [ -n "$l" ]; do
			printf "$l"
		done >"$2"
		;;
	esac
	[ "$(stat -c %s "$2" 2>/dev/null)" = "$1" ]
}

# desync: a payload came out short; the stream position is unknown, so end the session.
desync() {
	say err 'payload came out short (disk full in the state folder, or the stream broke); session ends'
	exit 3
}

# rec CODE REL: records a per-file failure in the reply body being built in $st/out.
rec() {
	printf 'E %s %s\n' "$1" "$2" >>"$st/out"
}

# recm CODE REL: rec plus the first line of $st/e (a tool's message) as an M record.
recm() {
	rec "$1" "$2"
	m=
	IFS= read -r m <"$st/e"
	printf 'M %s\n' "$m" >>"$st/out"
}
