# sweep DIR: removes ferry folders in DIR (.ferry-tmp-PID…) whose process is gone (a
# session or watcher that was killed before it could clean up); never those of a process
# that lives, whoever runs it.
sweep() {
	for d in "$1"/.ferry-tmp-*; do
		[ -d "$d" ] || continue
		p=${d##*/.ferry-tmp-}
		p=${p%%-*}
		case $p in '' | *[!0-9]*) continue ;; esac
		[ "$p" = "$$" ] && continue
		# Alive as another user (another developer's session): kill -0 says EPERM,
		# /proc still knows it.
		[ -d "/proc/$p" ] && continue
		kill -0 "$p" 2>/dev/null || rm -rf "$d"
	done
}
