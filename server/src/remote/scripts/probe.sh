# probe: detects once which tools the container has, as key=value lines in $st/out,
# and sets the variables the commands branch on. Tools named in $disabled count as
# missing (ferry's tests use this to run the fallbacks).

# off TOOL: true when ferry asked to treat TOOL as missing.
off() {
	case " $disabled " in *" $1 "*) return 0 ;; esac
	return 1
}

probe() {
	t=$st/p
	rm -rf "$t" "$t.x" "$t.tar" "$t.f"
	rd=esc
	if ! off head && [ "$(printf abc | head -c 2 2>/dev/null)" = ab ]; then
		rd=head
	elif ! off dd && ! off ddcount && [ "$(printf abcdef | dd bs=4 count=5 iflag=fullblock,count_bytes 2>/dev/null)" = abcde ]; then
		rd=ddc
	elif ! off dd && [ "$(printf abc | dd bs=1 count=2 2>/dev/null)" = ab ]; then
		rd=dd1
	fi
	has_mv=
	: >"$t.f"
	! off mv && mv -f "$t.f" "$t.g" 2>/dev/null && [ -f "$t.g" ] && has_mv=1
	rm -f "$t.f" "$t.g"
	: >"$t.f"
	has_chmod=
	! off chmod && chmod 700 "$t.f" 2>/dev/null && [ "$(stat -c %a "$t.f")" = 700 ] && has_chmod=1
	has_touch=
	! off touch && touch -d @1000000000 "$t.f" 2>/dev/null &&
		[ "$(stat -c %Y "$t.f")" = 1000000000 ] && has_touch=1
	has_gzip=
	! off gzip && [ "$(printf ferry | gzip -c 2>/dev/null | gzip -dc 2>/dev/null)" = ferry ] && has_gzip=1
	tx=
	tarv=
	if ! off tar; then
		mkdir -p "$t/d" "$t.x" && printf x >"$t/d/f" &&
			(cd "$t" && tar cf "$t.tar" ./d) 2>/dev/null &&
			for o in xpof xof; do
				(cd "$t.x" && tar "$o" "$t.tar") 2>/dev/null && [ -f "$t.x/d/f" ] && tx=$o && break
			done
		case $(tar --version 2>&1) in
		*GNU*) tarv=gnu ;;
		*BusyBox* | *busybox*) tarv=busybox ;;
		*) tarv=other ;;
		esac
	fi
	rm -rf "$t" "$t.x" "$t.tar"
	# sf: the listing's stat format; tf: its mtime part alone.
	tf=%Y
	mt=s
	case $(stat -c %.9Y "$t.f" 2>/dev/null) in
	[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) tf=%.9Y mt=n ;;
	*)
		case $(stat -c %y "$t.f" 2>/dev/null) in
		[0-9]*-*-*' '*:*:*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' '[+-]*) tf=%y mt=y ;;
		esac
		;;
	esac
	sf="%f %s $tf %n"
	fmd=
	! off maxdepth && find "$t.f" -maxdepth 0 >/dev/null 2>&1 && fmd=1
	fnw=
	! off newer && find "$t.f" -newer "$t.f" >/dev/null 2>&1 && fnw=1
	fsl=
	! off sleepfrac && sleep 0.01 2>/dev/null && fsl=1
	inw=
	! off inotifywait && command -v inotifywait >/dev/null 2>&1 && inw=1
	ck=
	for c in sha256sum md5sum cksum; do
		off "$c" && continue
		command -v "$c" >/dev/null 2>&1 && printf a | "$c" >/dev/null 2>&1 && ck=$c && break
	done
	rm -f "$t.f"
	{
		printf 'proto=1\npid=%s\nuid=%s\nreader=%s\n' "$$" "$(stat -c %u "$st")" "$rd"
		printf 'mv=%s\nchmod=%s\ntouch=%s\ngzip=%s\n' "$has_mv" "$has_chmod" "$has_touch" "$has_gzip"
		printf 'tar=%s\ntarflavor=%s\nmtime=%s\nmaxdepth=%s\nnewer=%s\n' "$tx" "$tarv" "$mt" "$fmd" "$fnw"
		printf 'sleepfrac=%s\ninotifywait=%s\nchecksum=%s\n' "$fsl" "$inw" "$ck"
		[ -d "$root" ] && e=1 || e=
		[ -w "$root" ] && w=1 || w=
		printf 'rootexists=%s\nrootwritable=%s\nstate=%s\n' "$e" "$w" "$st"
	} >"$st/out"
}
