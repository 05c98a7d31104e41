# The session: sh -c "$script" ferry-session ROOT STATE_PARENT DISABLED MODE
# ROOT is the sync folder (absolute); STATE_PARENT an optional folder for ferry's
# state; DISABLED tools to treat as missing; MODE rw, or ro for a dry run (the sync
# folder is neither created nor swept, and every command that writes in it is
# refused). Finds a private state folder, probes the tools, answers with the probe
# (the hello), then serves one command at a time until "quit" or the end of stdin
# (ferry went away), and cleans up after itself.
LC_ALL=C
export LC_ALL
nl=$(printf '\nx')
nl=${nl%x}
root=$1
disabled=$3
mode=${4:-rw}
cd / || exit 1
[ "$mode" = ro ] || [ -d "$root" ] || mkdir -p "$root" 2>/dev/null
st=
for d in "$2" "${TMPDIR:-}" /tmp /var/tmp "${HOME:-}" "$root"; do
	[ "$mode.$d" = "ro.$root" ] && continue
	[ -n "$d" ] && [ -d "$d" ] && mkdir "$d/.ferry-tmp-$$-s" 2>/dev/null && st=$d/.ferry-tmp-$$-s && break
done
if [ -z "$st" ]; then
	say err 'no writable folder for ferry state (tried $TMPDIR, /tmp, /var/tmp, $HOME and the sync folder)'
	exit 2
fi
# Uploads are unpacked in STGBASE/.ferry-tmp-PID: the sync folder until `stage` names
# a folder out of sight on the same mount.
stgbase=$root
trap 'rm -rf "$st" "$stgbase/.ferry-tmp-$$"' EXIT
if [ -z "$(stat -c %s "$st" 2>/dev/null)" ]; then
	say err 'the container has no stat that takes -c (GNU coreutils or busybox): ferry cannot list files there'
	exit 2
fi
if ! find "$st" -prune >/dev/null 2>&1; then
	say err 'the container has no find: ferry cannot list files there'
	exit 2
fi
trap 'exit 1' HUP INT TERM PIPE
# Leftovers of sessions and watchers that were killed.
[ "$mode" = ro ] || sweep "$root"
sweep "${st%/*}"
probe
send ok "$st/out"
while read -r c a b x y; do
	if [ "$mode" = ro ]; then
		case $c.$b in
		put.* | putf.* | rm.* | rmdir.* | mkdir.* | mv.* | mark.w | stage.*)
			say err 'this session is read-only (a dry run): nothing is changed'
			continue
			;;
		esac
	fi
	case $c in
	ping) say ok '' ;;
	list) cmd_list "$a" "$b" ;;
	put) cmd_put "$a" "$b" "$x" ;;
	putf) cmd_putf "$a" "$b" "$x" "$y" ;;
	get) cmd_get "$a" ;;
	getf) cmd_getf "$a" ;;
	rm) cmd_rm "$a" "$b" ;;
	rmdir) cmd_rmdir "$a" ;;
	mkdir) cmd_mkdir "$a" ;;
	mv) cmd_mv "$a" ;;
	place) cmd_place ;;
	mark) cmd_mark "$a" "$b" ;;
	stage) cmd_stage "$a" ;;
	sum) cmd_sum "$a" ;;
	quit)
		say ok ''
		exit 0
		;;
	*) say err "unknown command: $c" ;;
	esac
done
