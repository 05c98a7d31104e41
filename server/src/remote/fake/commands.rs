//! One handler per session command, each emulating the contract its script states
//! (`list.sh`, `put.sh`, `get.sh`, `sum.sh`, `edit.sh`, `place.sh`): the payload it
//! reads, the file system effects in the script's order, the reply body byte for byte,
//! and the per-file failure records (`E CODE PATH`, `M MESSAGE` with the tool's first
//! line).

use std::io::Read;

use crate::remote::caps::TarFlavor;
use crate::remote::path::Mtime;

use super::fs::{Cred, Errno, FakeFs, Kind, Stat};
use super::profile::{Flavor, StatTimes};
use super::shell::{cat, lines, script_line, Abort, Flow, Shell};
use super::tools::{cd_msg, lossy, outcome, redirect_msg, SysErr, ToolErr};
use super::Stop;

/// The failure records of a reply body being built (`$st/out`).
#[derive(Default)]
struct Records(Vec<u8>);

impl Records {
    /// `rec CODE REL`.
    fn rec(&mut self, code: &str, rel: &[u8]) {
        self.0.extend_from_slice(format!("E {code} ").as_bytes());
        self.0.extend_from_slice(rel);
        self.0.push(b'\n');
    }

    /// `recm CODE REL`: plus `M ` and the first line of `$st/e`.
    fn recm(&mut self, code: &str, rel: &[u8], e_line: &[u8]) {
        self.rec(code, rel);
        self.0.extend_from_slice(b"M ");
        self.0.extend_from_slice(e_line);
        self.0.push(b'\n');
    }
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An mtime as `stat -c` prints it.
pub(crate) fn fmt_time(t: Mtime, sf: StatTimes) -> String {
    match sf {
        StatTimes::Seconds => t.secs.to_string(),
        StatTimes::Decimal if t.secs < 0 && t.nanos > 0 => {
            format!("-{}.{:09}", -(t.secs + 1), 1_000_000_000 - t.nanos)
        }
        StatTimes::Decimal => format!("{}.{:09}", t.secs, t.nanos),
        StatTimes::Human => {
            let (y, m, d) = civil(t.secs.div_euclid(86_400));
            let s = t.secs.rem_euclid(86_400);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:09} +0000",
                s / 3600,
                s / 60 % 60,
                s % 60,
                t.nanos
            )
        }
    }
}

/// `stat -c "$sf" NAME`: `MODEHEX SIZE MTIME NAME`.
fn stat_line(out: &mut Vec<u8>, s: &Stat, sf: StatTimes, name: &[u8]) {
    out.extend_from_slice(
        format!("{:x} {} {} ", s.mode(), s.size, fmt_time(s.mtime, sf)).as_bytes(),
    );
    out.extend_from_slice(name);
    out.push(b'\n');
}

fn quoted(flavor: Flavor, p: &[u8]) -> String {
    match flavor {
        Flavor::Gnu => format!("'{}'", lossy(p)),
        Flavor::Busybox => lossy(p),
    }
}

impl Shell {
    fn is_dir(&self, fs: &FakeFs, p: &[u8]) -> bool {
        fs.stat(p, self.cred).is_ok_and(|s| s.kind == Kind::Dir)
    }

    fn is_link(&self, fs: &FakeFs, p: &[u8]) -> bool {
        fs.lstat(p, self.cred)
            .is_ok_and(|s| s.kind == Kind::Symlink)
    }

    fn exists(&self, fs: &FakeFs, p: &[u8]) -> bool {
        fs.stat(p, self.cred).is_ok()
    }

    // ----- list -----------------------------------------------------------------------

    /// `list LEN DEPTH` (`list.sh`).
    pub async fn cmd_list(&mut self, len: &str, depth: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let maxdepth1 = depth == "1" && self.fmd;
        let fs_root = {
            let st = self.c.lock();
            match st.fs.canonical(&self.root, self.cred) {
                Ok(c) if self.is_dir(&st.fs, &c) && st.fs.may_search(&c, self.cred) => Ok(c),
                Ok(_) => Err(if self.is_dir(&st.fs, &self.root) {
                    Errno::EACCES
                } else {
                    Errno::ENOTDIR
                }),
                Err(e) => Err(e),
            }
        };
        let root = match fs_root {
            Ok(r) => r,
            Err(e) => {
                let line = script_line("if ! cd \"$root\" 2>\"$st/e\"; then");
                let msg = cd_msg(self.flavor, &self.root, e, line);
                self.set_e(Some(&msg));
                return Err(self.fail("cannot enter the sync folder"));
            }
        };
        // The container's time, as a file touched in the state folder.
        let now = self.c.now();
        let mut out = format!("T {}\n", fmt_time(now, self.sf)).into_bytes();
        {
            let st = self.c.lock();
            for (i, p) in lines(&payload).into_iter().enumerate() {
                let shown: Vec<u8> = if p == b"." {
                    b".".to_vec()
                } else {
                    cat(&[b"./", p])
                };
                let abs = if p == b"." {
                    root.clone()
                } else {
                    cat(&[&root, b"/", p])
                };
                let mut esc = Vec::new();
                let mut stats = Vec::new();
                let mut errs = Vec::new();
                // A path that does not exist (or cannot be reached) is find's error too.
                self.find(
                    &st.fs, &abs, &shown, 0, maxdepth1, &mut esc, &mut stats, &mut errs,
                );
                out.extend(esc);
                out.extend(stats);
                for e in &errs {
                    out.extend_from_slice(format!("W {i} {e}\n").as_bytes());
                }
                if !errs.is_empty() {
                    out.extend_from_slice(format!("F {i} 1\n").as_bytes());
                }
            }
        }
        self.send("ok", &out).await?;
        Ok(())
    }

    /// `find SHOWN [-maxdepth 1] \( -path './.ferry-tmp-*' -prune \) -o \( -path "*\n*"
    /// -prune -exec esc \) -o -exec stat -c "$sf" {} +`, children in name order.
    #[allow(clippy::too_many_arguments)]
    fn find(
        &self,
        fs: &FakeFs,
        abs: &[u8],
        shown: &[u8],
        depth: usize,
        maxdepth1: bool,
        esc: &mut Vec<u8>,
        stats: &mut Vec<u8>,
        errs: &mut Vec<String>,
    ) {
        let s = match fs.lstat(abs, self.cred) {
            Ok(s) => s,
            Err(e) => {
                errs.push(format!("find: {}: {e}", quoted(self.flavor, shown)));
                return;
            }
        };
        if shown.starts_with(b"./.ferry-tmp-") {
            return;
        }
        if shown.contains(&b'\n') {
            let mut r = Vec::new();
            for &b in shown {
                if b == b'\n' {
                    r.extend_from_slice(b"\\n");
                } else {
                    r.push(b);
                }
            }
            esc.extend_from_slice(b"! ");
            esc.extend(r);
            esc.push(b'\n');
            return;
        }
        stat_line(stats, &s, self.sf, shown);
        if s.kind != Kind::Dir || (maxdepth1 && depth >= 1) {
            return;
        }
        match fs.readdir(abs, self.cred) {
            Ok(children) => {
                for (name, _) in children {
                    let a = cat(&[abs, b"/", &name]);
                    let sh = cat(&[shown, b"/", &name]);
                    self.find(fs, &a, &sh, depth + 1, maxdepth1, esc, stats, errs);
                }
            }
            Err(e) => errs.push(format!("find: {}: {e}", quoted(self.flavor, shown))),
        }
    }

    // ----- stage / put / putf -----------------------------------------------------------

    /// `stage LEN` (`put.sh`).
    pub async fn cmd_stage(&mut self, len: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let dir = payload
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or(&[])
            .to_vec();
        if !dir.starts_with(b"/") {
            return Err(Abort::Err(cat(&[b"not an absolute folder: ", &dir])));
        }
        let old = self.staging();
        let made = self.sys(|sys| -> Result<Option<String>, Stop> {
            if let Some(m) = outcome(sys.mkdir_p(&dir))? {
                return Ok(Some(m));
            }
            if let Err(ToolErr::Stop(s)) = sys.rm_rf(&old) {
                return Err(s);
            }
            super::shell::sweep(sys, &dir)?;
            Ok(None)
        })?;
        if let Some(m) = made {
            self.set_e(Some(&m));
            return Err(self.fail("cannot create the staging place"));
        }
        self.stgbase = dir;
        let cleanup = vec![self.st.clone(), self.staging()];
        self.c.lock().set_cleanup(self.pid, cleanup);
        Ok(self.say("ok", b"").await?)
    }

    /// `put LEN Z [MLEN]` (`put.sh`).
    pub async fn cmd_put(&mut self, len: &str, z: &str, mlen: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let wants = if mlen.is_empty() {
            None
        } else {
            Some(self.recv(mlen, &self.st.clone()).await?)
        };
        let stg = self.staging();
        let made = self.sys(|sys| -> Result<Option<String>, Stop> {
            if sys
                .fs()
                .stat(&stg, sys.cred)
                .is_ok_and(|s| s.kind == Kind::Dir)
            {
                return Ok(None);
            }
            match sys.mkdir(&stg, 0o777 & !sys.umask) {
                Ok(()) => Ok(None),
                Err(SysErr::Stop(s)) => Err(s),
                Err(SysErr::Errno(e)) => Ok(Some(format!(
                    "mkdir: {} create directory '{}': {e}",
                    if sys.flavor == Flavor::Gnu {
                        "cannot"
                    } else {
                        "can't"
                    },
                    lossy(&stg)
                ))),
            }
        })?;
        if let Some(m) = made {
            self.set_e(Some(&m));
            return Err(self.fail("cannot create the staging folder"));
        }
        // gzip -dc <"$st/in" | tar "$tx" - -C "$stg" 2>"$st/e": only tar's messages are
        // captured; a gzip failure shows as a truncated archive.
        let (tar, gzip_failed) = if z == "z" {
            let mut out = Vec::new();
            let r = flate2::read::MultiGzDecoder::new(&payload[..]).read_to_end(&mut out);
            (out, r.is_err())
        } else {
            (payload, false)
        };
        let extracted = self.extract(&tar, &stg)?;
        let failed = extracted.or_else(|| {
            gzip_failed.then(|| match self.tarv {
                Some(TarFlavor::Gnu) => {
                    "tar: Unexpected EOF in archive\ntar: Error is not recoverable: exiting now"
                        .into()
                }
                _ => "tar: short read".into(),
            })
        });
        if let Some(msg) = failed {
            let mut free = None;
            let root = self.root.clone();
            self.sys(|sys| -> Result<(), Stop> {
                outcome(sys.rm_rf(&stg))?;
                free = sys.fs().space(&root).1;
                Ok(())
            })?;
            self.set_e(Some(&msg));
            // `X FREE MESSAGE`: nothing landed, the session goes on. FREE from
            // `stat -f -c '%a %S'`; MESSAGE: tar's first two lines, joined by "; ".
            let free = match (self.statfs, free) {
                (true, Some(f)) => f.to_string(),
                (true, None) => (1u64 << 40).to_string(),
                (false, _) => "-".into(),
            };
            let m = msg.lines().take(2).collect::<Vec<_>>().join("; ");
            self.send("ok", format!("X {free} {m}\n").as_bytes())
                .await?;
            return Ok(());
        }
        let mut out = Records::default();
        if let Some(wants) = wants {
            // while read w && read p: want "$w" "$root/$p" && land … || rec changed
            let ls: Vec<&[u8]> = wants.split(|&b| b == b'\n').collect();
            for pair in ls.chunks(2) {
                let [w, rel] = pair else { break };
                if rel.is_empty() {
                    continue;
                }
                let target = cat(&[&self.root, b"/", rel]);
                let st = self.c.lock().fs.lstat(&target, Cred::ROOT);
                let ok = match *w {
                    b"*" => true,
                    b"-" => st.is_err(),
                    w => {
                        let want = String::from_utf8_lossy(w).into_owned();
                        st.is_ok_and(|s| {
                            s.kind == Kind::File && format!("{} {}", s.size, s.mtime.secs) == want
                        })
                    }
                };
                if ok {
                    let src = cat(&[&stg, b"/", rel]);
                    self.land(&src, rel, &mut out)?;
                } else {
                    out.rec("changed", rel);
                }
            }
            if !out.0.is_empty() {
                self.sys(|sys| outcome(sys.rm_rf(&stg)))?;
            }
            self.send("ok", &out.0).await?;
            return Ok(());
        }
        // find "$stg" ! -type d
        let staged: Vec<Vec<u8>> = {
            let st = self.c.lock();
            st.fs
                .walk(&stg)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.stat.kind != Kind::Dir)
                .map(|e| e.rel)
                .collect()
        };
        for rel in staged {
            let src = cat(&[&stg, b"/", &rel]);
            self.land(&src, &rel, &mut out)?;
        }
        if !out.0.is_empty() {
            self.sys(|sys| outcome(sys.rm_rf(&stg)))?;
        }
        self.send("ok", &out.0).await?;
        Ok(())
    }

    /// `tar x[p]of ARCHIVE -C STAGING`: `Ok(Some(message))` when tar fails.
    fn extract(&mut self, tar_bytes: &[u8], stg: &[u8]) -> Result<Option<String>, Stop> {
        struct Member {
            path: Vec<u8>,
            kind: tar::EntryType,
            mode: u32,
            mtime: Mtime,
            data: Vec<u8>,
            link: Vec<u8>,
            /// Where the content starts in the archive (GNU tar writes it record by
            /// record: a short write names the record's part).
            at: u64,
        }
        let gnu = self.tarv == Some(TarFlavor::Gnu);
        let mut members = Vec::new();
        let mut broken = None;
        let mut ar = tar::Archive::new(tar_bytes);
        match ar.entries() {
            Err(e) => broken = Some(e.to_string()),
            Ok(entries) => {
                for entry in entries {
                    let mut entry = match entry {
                        Ok(e) => e,
                        Err(e) => {
                            broken = Some(e.to_string());
                            break;
                        }
                    };
                    let h = entry.header().clone();
                    let mut mtime = Mtime::new(h.mtime().unwrap_or(0) as i64, 0);
                    if gnu {
                        if let Ok(Some(pax)) = entry.pax_extensions() {
                            for ext in pax.flatten() {
                                if ext.key() == Ok("mtime") {
                                    if let Some(t) = ext.value().ok().and_then(Mtime::parse_decimal)
                                    {
                                        mtime = t;
                                    }
                                }
                            }
                        }
                    }
                    let path = entry.path_bytes().into_owned();
                    let link = entry
                        .link_name_bytes()
                        .map(|l| l.into_owned())
                        .unwrap_or_default();
                    let at = entry.raw_file_position();
                    let mut data = Vec::new();
                    if let Err(e) = entry.read_to_end(&mut data) {
                        broken = Some(e.to_string());
                        break;
                    }
                    members.push(Member {
                        path,
                        kind: h.entry_type(),
                        mode: h.mode().unwrap_or(0o644),
                        mtime,
                        data,
                        link,
                        at,
                    });
                }
            }
        }
        let preserve = self.tx != Some(false);
        let tarv = self.tarv;
        self.sys(|sys| -> Result<Option<String>, Stop> {
            let mut errors: Vec<String> = Vec::new();
            for m in members {
                let mut rel: &[u8] = &m.path;
                while let Some(r) = rel.strip_prefix(b"./").or_else(|| rel.strip_prefix(b"/")) {
                    rel = r;
                }
                let rel = rel.strip_suffix(b"/").unwrap_or(rel).to_vec();
                if rel.is_empty() {
                    continue;
                }
                let dest = cat(&[stg, b"/", &rel]);
                if let Some(i) = dest.iter().rposition(|&b| b == b'/') {
                    let parent = dest[..i].to_vec();
                    if !sys
                        .fs()
                        .stat(&parent, sys.cred)
                        .is_ok_and(|s| s.kind == Kind::Dir)
                    {
                        if let Err(ToolErr::Stop(s)) = sys.mkdir_p(&parent) {
                            return Err(s);
                        }
                    }
                }
                let perm = if preserve {
                    m.mode & 0o7777
                } else {
                    m.mode & 0o7777 & !sys.umask
                };
                let (len, at) = (m.data.len() as u64, m.at);
                let r = match m.kind {
                    tar::EntryType::Directory => match sys.fs().stat(&dest, sys.cred) {
                        Ok(s) if s.kind == Kind::Dir => Ok(()),
                        _ => sys.mkdir(&dest, perm),
                    },
                    tar::EntryType::Symlink => {
                        sys.unlink_if_there(&dest)?;
                        sys.symlink(&m.link, &dest)
                    }
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        if sys.fs().lstat(&dest, sys.cred).is_ok() {
                            if let Err(SysErr::Stop(s)) = sys.unlink(&dest) {
                                return Err(s);
                            }
                        }
                        sys.write(&dest, m.data, perm)
                    }
                    _ => continue,
                };
                let r = r.and_then(|()| {
                    if m.kind == tar::EntryType::Symlink {
                        Ok(())
                    } else {
                        sys.set_mtime(&dest, m.mtime, false)
                    }
                });
                match r {
                    Ok(()) => {}
                    Err(SysErr::Stop(s)) => return Err(s),
                    Err(SysErr::Errno(e)) => {
                        let name = lossy(&rel);
                        match tarv {
                            Some(TarFlavor::Gnu) => {
                                let written = sys.fs().lstat(&dest, sys.cred).map_or(0, |s| s.size);
                                errors.push(match short_write(at, len, written) {
                                    Some((n, of)) if e == Errno::ENOSPC && n > 0 => {
                                        format!("tar: {name}: Wrote only {n} of {of} bytes")
                                    }
                                    _ => format!("tar: {name}: Cannot write: {e}"),
                                });
                            }
                            _ => {
                                // busybox tar stops at the first error.
                                return Ok(Some(if e == Errno::ENOSPC {
                                    format!("tar: write error: {e}")
                                } else {
                                    format!("tar: can't open '{name}': {e}")
                                }));
                            }
                        }
                    }
                }
            }
            if let Some(b) = broken {
                errors.push(match tarv {
                    Some(TarFlavor::Gnu) => format!("tar: {b}"),
                    _ => format!("tar: {b}"),
                });
            }
            if errors.is_empty() {
                return Ok(None);
            }
            if tarv == Some(TarFlavor::Gnu) {
                errors.push("tar: Exiting with failure status due to previous errors".into());
            }
            Ok(Some(errors.join("\n")))
        })
    }

    /// `land SRC REL` (`put.sh`): one rename into place (or an in-place copy without mv).
    fn land(&mut self, src: &[u8], rel: &[u8], out: &mut Records) -> Result<(), Stop> {
        let d = self.under_root(rel);
        let has_mv = self.has_mv;
        let (has_chmod, has_touch) = (self.has_chmod, self.has_touch);
        let cat_line = script_line("{ cat \"$1\" >\"$d\"; } 2>\"$st/e\" || {");
        enum Landed {
            Ok,
            /// Landed by the in-place copy: `$st/e` was emptied by its `2>`.
            Copied,
            Rec(&'static str),
            Recm(&'static str, Option<String>),
        }
        let r = self.sys(|sys| -> Result<Landed, Stop> {
            if let Some(i) = rel.iter().rposition(|&b| b == b'/') {
                let parent = d[..d.len() - (rel.len() - i)].to_vec();
                if !sys
                    .fs()
                    .stat(&parent, sys.cred)
                    .is_ok_and(|s| s.kind == Kind::Dir)
                {
                    if let Some(m) = outcome(sys.mkdir_p(&parent))? {
                        return Ok(Landed::Recm("parent", Some(m)));
                    }
                }
            }
            let fs = sys.fs();
            let is_dir = fs.stat(&d, sys.cred).is_ok_and(|s| s.kind == Kind::Dir);
            let is_link = fs
                .lstat(&d, sys.cred)
                .is_ok_and(|s| s.kind == Kind::Symlink);
            if is_dir && !is_link {
                return Ok(Landed::Rec("isdir"));
            }
            if fs.stat(&d, sys.cred).is_ok() && !fs.may_write(&d, sys.cred) {
                return Ok(Landed::Rec("readonly"));
            }
            if is_link && is_dir {
                if let Err(SysErr::Stop(s)) = sys.unlink(&d) {
                    return Err(s);
                }
            }
            if has_mv {
                return Ok(match outcome(sys.mv_f(src, &d))? {
                    None => Landed::Ok,
                    Some(m) => Landed::Recm("move", Some(m)),
                });
            }
            // { cat "$1" >"$d"; } 2>"$st/e": a failed redirection's message is captured.
            let data = match sys.fs().read(src, sys.cred) {
                Ok(d) => (*d).clone(),
                Err(e) => {
                    return Ok(Landed::Recm(
                        "move",
                        Some(format!("cat: {}: {e}", lossy(src))),
                    ))
                }
            };
            match sys.write(&d, data, 0o666 & !sys.umask) {
                Ok(()) => {}
                Err(SysErr::Stop(s)) => return Err(s),
                Err(SysErr::Errno(e)) => {
                    let m = redirect_msg(sys.flavor, &d, e, cat_line);
                    return Ok(Landed::Recm("move", Some(m)));
                }
            }
            if has_chmod {
                let perm = sys
                    .fs()
                    .stat(src, sys.cred)
                    .map(|s| s.perm)
                    .unwrap_or(0o644);
                if let Err(SysErr::Stop(s)) = sys.chmod(&d, perm) {
                    return Err(s);
                }
            }
            if has_touch {
                if let Ok(s) = sys.fs().stat(src, sys.cred) {
                    if let Err(SysErr::Stop(s)) = sys.set_mtime(&d, s.mtime, true) {
                        return Err(s);
                    }
                    if sys.flavor == Flavor::Gnu {
                        // GNU touch -r opens the file: its close is an event too.
                        let cred = sys.cred;
                        sys.st.fs.closed_after_write(&d, cred);
                    }
                }
            }
            if let Err(SysErr::Stop(s)) = sys.unlink(src) {
                return Err(s);
            }
            Ok(Landed::Copied)
        })?;
        match r {
            Landed::Ok => {}
            Landed::Rec(code) => out.rec(code, rel),
            Landed::Copied => self.set_e(None),
            Landed::Recm(code, msg) => {
                if let Some(m) = msg {
                    self.set_e(Some(&m));
                }
                let line = self.e_line();
                out.recm(code, rel, &line);
            }
        }
        Ok(())
    }

    /// `putf NAMELEN LEN MODE MTIME` (`put.sh`).
    pub async fn cmd_putf(&mut self, namelen: &str, len: &str, mode: &str, mtime: &str) -> Flow {
        let name = self.recv(namelen, &self.st.clone()).await?;
        let rel = name.split(|&b| b == b'\n').next().unwrap_or(&[]).to_vec();
        let stg = self.staging();
        let made = self.sys(|sys| -> Result<Option<String>, Stop> {
            if sys
                .fs()
                .stat(&stg, sys.cred)
                .is_ok_and(|s| s.kind == Kind::Dir)
            {
                return Ok(None);
            }
            match sys.mkdir(&stg, 0o777 & !sys.umask) {
                Ok(()) => Ok(None),
                Err(SysErr::Stop(s)) => Err(s),
                Err(SysErr::Errno(e)) => Ok(Some(format!(
                    "mkdir: {} create directory '{}': {e}",
                    if sys.flavor == Flavor::Gnu {
                        "cannot"
                    } else {
                        "can't"
                    },
                    lossy(&stg)
                ))),
            }
        })?;
        if let Some(m) = made {
            self.set_e(Some(&m));
            return Err(self.fail("cannot create the staging folder"));
        }
        let f = cat(&[&stg, b"/f"]);
        let content = self.recv(len, &stg).await?;
        let (has_chmod, has_touch) = (self.has_chmod, self.has_touch);
        let wrote = self.sys(|sys| -> Result<bool, Stop> {
            match sys.write(&f, content, 0o666 & !sys.umask) {
                Ok(()) => {}
                Err(SysErr::Stop(s)) => return Err(s),
                Err(SysErr::Errno(_)) => return Ok(false),
            }
            if has_chmod {
                if let Ok(m) = u32::from_str_radix(mode, 8) {
                    if let Err(SysErr::Stop(s)) = sys.chmod(&f, m) {
                        return Err(s);
                    }
                }
            }
            if has_touch {
                if let Ok(secs) = mtime.parse::<i64>() {
                    if let Err(SysErr::Stop(s)) = sys.set_mtime(&f, Mtime::new(secs, 0), true) {
                        return Err(s);
                    }
                }
            }
            Ok(true)
        })?;
        if !wrote {
            // head could not write the payload file: it came out short.
            self.say(
                "err",
                b"payload came out short (disk full in the state folder, or the stream broke); session ends",
            )
            .await?;
            return Err(Abort::Stop(Stop::Exit {
                code: 3,
                cleanup: true,
            }));
        }
        let mut out = Records::default();
        self.land(&f, &rel, &mut out)?;
        self.sys(|sys| -> Result<(), Stop> {
            if sys.fs().lstat(&f, sys.cred).is_ok() {
                if let Err(SysErr::Stop(s)) = sys.unlink(&f) {
                    return Err(s);
                }
            }
            Ok(())
        })?;
        self.send("ok", &out.0).await?;
        Ok(())
    }

    // ----- get / getf -------------------------------------------------------------------

    /// `get LEN` (`get.sh`): the paths that exist (`[ -e ] || [ -L ]`; none: an empty
    /// `ok`), then `(cd "$root" && tar cf "$st/out" ./PATH…)`; `err` with tar's messages
    /// when it fails (nothing of the archive is sent).
    pub async fn cmd_get(&mut self, len: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let present: Vec<Vec<u8>> = {
            let st = self.c.lock();
            lines(&payload)
                .into_iter()
                .filter(|p| {
                    let f = self.under_root(p);
                    self.exists(&st.fs, &f) || self.is_link(&st.fs, &f)
                })
                .map(<[u8]>::to_vec)
                .collect()
        };
        if present.is_empty() {
            self.say("ok", b"").await?;
            return Ok(());
        }
        let gnu = self.tarv == Some(TarFlavor::Gnu);
        let built = self.build_archive(&present, gnu);
        let Some((mut bytes, mut errors, free)) = built else {
            // The subshell's cd failed: ash's cd returns 1, dash's 2.
            let r = if self.flavor == Flavor::Gnu { 2 } else { 1 };
            return Err(self.fail(&format!("tar failed (status {r})")));
        };
        let mut fatal = false;
        if let Some(free) = free {
            if (bytes.len() as u64) > free {
                bytes.truncate(free as usize);
                fatal = true;
                errors.push(if gnu {
                    format!(
                        "tar: {}/out: Cannot write: No space left on device",
                        lossy(&self.st)
                    )
                } else {
                    "tar: write error: No space left on device".to_string()
                });
            }
        }
        if errors.is_empty() {
            self.set_e(None);
            self.send("ok", &bytes).await?;
            return Ok(());
        }
        if gnu {
            errors.push("tar: Exiting with failure status due to previous errors".into());
        } else if !fatal {
            // busybox tar goes on after a file it cannot read, and says so at the end.
            errors.push("tar: error exit delayed from previous errors".into());
        }
        self.set_e(Some(&errors.join("\n")));
        // GNU tar exits 2 after a file it could not read or write, busybox tar 1.
        let r = if gnu { 2 } else { 1 };
        Err(self.fail(&format!("tar failed (status {r})")))
    }

    /// The archive of `paths` (they exist), tar's messages, and the free space of the
    /// state folder; `None` (with `$st/e` set) when the subshell could not enter the
    /// sync folder.
    #[allow(clippy::type_complexity)]
    fn build_archive(
        &mut self,
        paths: &[Vec<u8>],
        gnu: bool,
    ) -> Option<(Vec<u8>, Vec<String>, Option<u64>)> {
        let st = self.c.lock();
        let root = match st.fs.canonical(&self.root, self.cred) {
            Ok(r) if self.is_dir(&st.fs, &r) && st.fs.may_search(&r, self.cred) => r,
            _ => {
                let line = if gnu {
                    script_line("tar cf \"$st/out\" --no-unquote")
                } else {
                    script_line("(cd \"$root\" && tar cf \"$st/out\" \"$@\")")
                };
                let e = st
                    .fs
                    .stat(&self.root, self.cred)
                    .err()
                    .unwrap_or(Errno::EACCES);
                drop(st);
                let msg = cd_msg(self.flavor, &self.root, e, line);
                self.set_e(Some(&msg));
                return None;
            }
        };
        let mut b = tar::Builder::new(Vec::new());
        let mut errors = Vec::new();
        for p in paths {
            let shown = cat(&[b"./", p]);
            let abs = cat(&[&root, b"/", p]);
            self.archive(&st.fs, &abs, &shown, gnu, &mut b, &mut errors);
        }
        let free = st.fs.space(&self.st).1;
        drop(st);
        Some((b.into_inner().unwrap_or_default(), errors, free))
    }

    /// Adds `abs` (shown as `shown`) and, for a folder, its contents in name order.
    fn archive(
        &self,
        fs: &FakeFs,
        abs: &[u8],
        shown: &[u8],
        gnu: bool,
        b: &mut tar::Builder<Vec<u8>>,
        errors: &mut Vec<String>,
    ) {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(shown);
        let s = match fs.lstat(abs, self.cred) {
            Ok(s) => s,
            Err(e) => {
                errors.push(if gnu {
                    format!("tar: {}: Cannot stat: {e}", lossy(shown))
                } else {
                    format!("tar: {}: {e}", lossy(shown))
                });
                return;
            }
        };
        let mut h = tar::Header::new_gnu();
        h.set_mode(s.perm);
        h.set_mtime(s.mtime.secs.max(0) as u64);
        h.set_uid(u64::from(s.uid));
        h.set_gid(u64::from(s.gid));
        h.set_size(0);
        match s.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                let children = fs.readdir(abs, self.cred);
                // GNU tar leaves out a folder it cannot read; busybox tar keeps its entry.
                if !(gnu && children.is_err()) {
                    let _ = b.append_data(&mut h, name, &[][..]);
                }
                match children {
                    Ok(children) => {
                        for (n, _) in children {
                            let a = cat(&[abs, b"/", &n]);
                            let sh = cat(&[shown, b"/", &n]);
                            self.archive(fs, &a, &sh, gnu, b, errors);
                        }
                    }
                    // busybox: its recursive walk's perror on the folder.
                    Err(e) => errors.push(if gnu {
                        format!("tar: {}: Cannot open: {e}", lossy(shown))
                    } else {
                        format!("tar: {}: {e}", lossy(shown))
                    }),
                }
            }
            Kind::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = fs.readlink(abs, self.cred).unwrap_or_default();
                let _ = b.append_link(&mut h, name, std::ffi::OsStr::from_bytes(&target));
            }
            Kind::File => match fs.read(abs, self.cred) {
                Ok(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    let _ = b.append_data(&mut h, name, &data[..]);
                }
                Err(e) => errors.push(if gnu {
                    format!("tar: {}: Cannot open: {e}", lossy(shown))
                } else {
                    format!("tar: can't open '{}': {e}", lossy(shown))
                }),
            },
            Kind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                let _ = b.append_data(&mut h, name, &[][..]);
            }
        }
    }

    /// `getf LEN` (`get.sh`).
    pub async fn cmd_getf(&mut self, len: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let mut out = Vec::new();
        {
            let st = self.c.lock();
            for (i, p) in lines(&payload).into_iter().enumerate() {
                let f = self.under_root(p);
                let exists = self.exists(&st.fs, &f);
                let link = self.is_link(&st.fs, &f);
                if !exists && !link {
                    out.extend_from_slice(format!("E {i} missing\n").as_bytes());
                    continue;
                }
                let s = st.fs.stat(&f, self.cred);
                if link || !s.as_ref().is_ok_and(|s| s.kind == Kind::File) {
                    out.extend_from_slice(format!("E {i} notfile\n").as_bytes());
                    continue;
                }
                match st.fs.read(&f, self.cred) {
                    Ok(data) => {
                        let s = s.expect("checked");
                        out.extend_from_slice(
                            format!("F {i} {:x} {} {}\n", s.mode(), s.mtime.secs, data.len())
                                .as_bytes(),
                        );
                        out.extend_from_slice(&data);
                    }
                    Err(_) => out.extend_from_slice(format!("E {i} read\n").as_bytes()),
                }
            }
        }
        self.send("ok", &out).await?;
        Ok(())
    }

    // ----- sum ------------------------------------------------------------------------------

    /// `sum LEN` (`sum.sh`): one `sha256sum` over the listed regular files (symlinks,
    /// folders, FIFOs and missing paths left out; an unreadable file is only a message
    /// on its stderr, which goes to /dev/null). Lines `HEX  ./PATH`; GNU's marks a name
    /// holding a backslash with a leading `\` and doubles the backslash, busybox's
    /// prints names as they are. Empty without sha256sum or when the sync folder cannot
    /// be entered.
    pub async fn cmd_sum(&mut self, len: &str) -> Flow {
        use sha2::{Digest, Sha256};
        let payload = self.recv(len, &self.st.clone()).await?;
        let mut out = Vec::new();
        if self.ck == Some(crate::remote::caps::ChecksumTool::Sha256sum) {
            let st = self.c.lock();
            let root = st
                .fs
                .canonical(&self.root, self.cred)
                .ok()
                .filter(|r| self.is_dir(&st.fs, r) && st.fs.may_search(r, self.cred));
            if let Some(root) = root {
                for p in lines(&payload) {
                    let f = cat(&[&root, b"/", p]);
                    let regular = st
                        .fs
                        .stat(&f, self.cred)
                        .is_ok_and(|s| s.kind == Kind::File);
                    if !regular || self.is_link(&st.fs, &f) {
                        continue;
                    }
                    let Ok(data) = st.fs.read(&f, self.cred) else {
                        continue;
                    };
                    let hex: String = Sha256::digest(&data[..])
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let name = cat(&[b"./", p]);
                    let escape = self.flavor == Flavor::Gnu && name.contains(&b'\\');
                    if escape {
                        out.push(b'\\');
                    }
                    out.extend_from_slice(hex.as_bytes());
                    out.extend_from_slice(b"  ");
                    for &b in &name {
                        if escape && b == b'\\' {
                            out.extend_from_slice(b"\\\\");
                        } else {
                            out.push(b);
                        }
                    }
                    out.push(b'\n');
                }
            }
        }
        self.send("ok", &out).await?;
        Ok(())
    }

    // ----- rm / rmdir / mkdir / mv ---------------------------------------------------------

    /// `rm LEN [c]` (`edit.sh`).
    pub async fn cmd_rm(&mut self, len: &str, mode: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let conditional = mode == "c";
        let ls = lines(&payload);
        let mut items: Vec<(Option<&[u8]>, &[u8])> = Vec::new();
        if conditional {
            for pair in ls.chunks(2) {
                if let [want, p] = pair {
                    items.push((Some(want), p));
                }
            }
        } else {
            items.extend(ls.into_iter().map(|p| (None, p)));
        }
        let mut out = Records::default();
        for (want, p) in items {
            let f = self.under_root(p);
            if let Some(want) = want {
                let st = self.c.lock();
                let (exists, link) = (self.exists(&st.fs, &f), self.is_link(&st.fs, &f));
                if exists || link {
                    let dir = self.is_dir(&st.fs, &f) && !link;
                    let now = st
                        .fs
                        .lstat(&f, self.cred)
                        .map(|s| format!("{} {}", s.size, s.mtime.secs))
                        .unwrap_or_default();
                    if dir || now.as_bytes() != want {
                        out.rec("changed", p);
                        continue;
                    }
                }
            }
            let msg = self.sys(|sys| outcome(sys.rm_rf(&f)))?;
            self.set_e(msg.as_deref());
            let still = {
                let st = self.c.lock();
                self.exists(&st.fs, &f) || self.is_link(&st.fs, &f)
            };
            if still {
                let line = self.e_line();
                out.recm("rm", p, &line);
            }
        }
        self.send("ok", &out.0).await?;
        Ok(())
    }

    /// `rmdir LEN` (`edit.sh`).
    pub async fn cmd_rmdir(&mut self, len: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let mut out = Records::default();
        for p in lines(&payload) {
            let f = self.under_root(p);
            let real_dir = {
                let st = self.c.lock();
                self.is_dir(&st.fs, &f) && !self.is_link(&st.fs, &f)
            };
            if real_dir {
                let msg = self.sys(|sys| outcome(sys.rmdir_tool(&f)))?;
                if let Some(m) = msg {
                    self.set_e(Some(&m));
                    let line = self.e_line();
                    out.recm("rm", p, &line);
                } else {
                    self.set_e(None);
                }
            }
        }
        self.send("ok", &out.0).await?;
        Ok(())
    }

    /// `mkdir LEN` (`edit.sh`).
    pub async fn cmd_mkdir(&mut self, len: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let mut out = Records::default();
        for p in lines(&payload) {
            let f = self.under_root(p);
            let msg = self.sys(|sys| outcome(sys.mkdir_p(&f)))?;
            self.set_e(msg.as_deref());
            if msg.is_some() {
                let line = self.e_line();
                out.recm("mkdir", p, &line);
            }
        }
        self.send("ok", &out.0).await?;
        Ok(())
    }

    /// `mv LEN` (`edit.sh`).
    pub async fn cmd_mv(&mut self, len: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let ls = lines(&payload);
        let mut out = Records::default();
        for pair in ls.chunks(2) {
            let [a, b] = pair else { break };
            let s = self.under_root(a);
            let d = self.under_root(b);
            let (missing, isdir) = {
                let st = self.c.lock();
                (
                    !self.exists(&st.fs, &s) && !self.is_link(&st.fs, &s),
                    self.is_dir(&st.fs, &d) && !self.is_link(&st.fs, &d),
                )
            };
            if missing {
                out.rec("missing", a);
                continue;
            }
            if isdir {
                out.rec("isdir", a);
                continue;
            }
            let has_slash = b.contains(&b'/');
            let msg = self.sys(|sys| -> Result<Option<String>, Stop> {
                if has_slash {
                    let i = d.iter().rposition(|&x| x == b'/').unwrap_or(0);
                    let parent = d[..i].to_vec();
                    if !sys
                        .fs()
                        .stat(&parent, sys.cred)
                        .is_ok_and(|s| s.kind == Kind::Dir)
                    {
                        // 2>/dev/null: the message is dropped.
                        outcome(sys.mkdir_p(&parent))?;
                    }
                }
                let fs = sys.fs();
                if fs
                    .lstat(&d, sys.cred)
                    .is_ok_and(|s| s.kind == Kind::Symlink)
                    && fs.stat(&d, sys.cred).is_ok_and(|s| s.kind == Kind::Dir)
                {
                    if let Err(SysErr::Stop(s)) = sys.unlink(&d) {
                        return Err(s);
                    }
                }
                outcome(sys.mv_f(&s, &d))
            })?;
            self.set_e(msg.as_deref());
            if msg.is_some() {
                let line = self.e_line();
                out.recm("move", a, &line);
            }
        }
        self.send("ok", &out.0).await?;
        Ok(())
    }

    // ----- place / mark -----------------------------------------------------------------

    /// `place` (`place.sh`).
    pub async fn cmd_place(&mut self) -> Flow {
        let mut out = Vec::new();
        {
            let st = self.c.lock();
            let root = lossy(&self.root);
            for n in ["root", "parent", "home", "tmp"] {
                let d: String = match n {
                    "root" => root.clone(),
                    "parent" => {
                        if root == "/" {
                            continue;
                        }
                        match root.rsplit_once('/') {
                            Some(("", _)) | None => "/".into(),
                            Some((p, _)) => p.into(),
                        }
                    }
                    "home" => match self.home.clone().filter(|h| !h.is_empty()) {
                        Some(h) => h,
                        None => continue,
                    },
                    _ => "/tmp".into(),
                };
                let Ok(p) = st.fs.canonical(d.as_bytes(), self.cred) else {
                    continue;
                };
                if !self.is_dir(&st.fs, &p)
                    || !st.fs.may_search(&p, self.cred)
                    || p.contains(&b'\n')
                {
                    continue;
                }
                let Ok(s) = st.fs.stat(&p, self.cred) else {
                    continue;
                };
                let w = st.fs.may_write(&p, self.cred)
                    || st.fs.may_write(&cat(&[&p, b"/.ferry"]), self.cred);
                out.extend_from_slice(format!("P {n} {} {} ", u8::from(w), s.dev).as_bytes());
                out.extend_from_slice(&p);
                out.push(b'\n');
            }
            if self.mountinfo {
                for m in st.fs.mounts() {
                    let parent = if m.id == 1 { 0 } else { 1 };
                    let mut mp = String::new();
                    for ch in m.path.chars() {
                        match ch {
                            ' ' => mp.push_str("\\040"),
                            '\t' => mp.push_str("\\011"),
                            '\n' => mp.push_str("\\012"),
                            '\\' => mp.push_str("\\134"),
                            c => mp.push(c),
                        }
                    }
                    out.extend_from_slice(
                        format!(
                            "M {} {parent} 0:{} / {mp} rw,relatime - {} fake{} rw\n",
                            m.id,
                            m.dev,
                            if m.volume { "ext4" } else { "overlay" },
                            m.id
                        )
                        .as_bytes(),
                    );
                }
            }
        }
        self.send("ok", &out).await?;
        Ok(())
    }

    /// `mark LEN r|w` (`place.sh`). A generation that is not decimal digits without a
    /// leading zero (fewer than 16) makes the marker invalid, so `$((g + 1))` never reads
    /// octal nor fails.
    pub async fn cmd_mark(&mut self, len: &str, mode: &str) -> Flow {
        let payload = self.recv(len, &self.st.clone()).await?;
        let mut it = payload.split(|&b| b == b'\n');
        let dir = it.next().unwrap_or(&[]).to_vec();
        let new = it.next().unwrap_or(&[]).to_vec();
        let marker = cat(&[&dir, b"/marker"]);
        let read_marker = |fs: &FakeFs, cred| -> Option<Vec<Vec<u8>>> {
            if !fs
                .stat(&marker, cred)
                .is_ok_and(|s: Stat| s.kind == Kind::File)
            {
                return None;
            }
            let data = fs.read(&marker, cred).ok()?;
            let nl = data.iter().position(|&b| b == b'\n')?;
            // read -r m v t2 g2 x: fields split on blanks, x takes the rest.
            let fields: Vec<Vec<u8>> = data[..nl]
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|f| !f.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            Some(fields)
        };
        let field = |f: &[Vec<u8>], i: usize| f.get(i).cloned().unwrap_or_default();
        let (mut t, g) = {
            let st = self.c.lock();
            match read_marker(&st.fs, self.cred) {
                Some(f) if field(&f, 0) == b"ferry-marker" && field(&f, 1) == b"1" => {
                    let (t2, g2) = (field(&f, 2), field(&f, 3));
                    // Digits, no leading zero (so never octal), fewer than 16.
                    let g_ok = !g2.is_empty()
                        && g2[0] != b'0'
                        && g2.len() < 16
                        && g2.iter().all(u8::is_ascii_digit);
                    let t_ok = !t2.is_empty() && t2.iter().all(u8::is_ascii_alphanumeric);
                    if g_ok && t_ok {
                        (t2, g2)
                    } else {
                        (Vec::new(), b"0".to_vec())
                    }
                }
                _ => (Vec::new(), b"0".to_vec()),
            }
        };
        let mut a = g.clone();
        self.e.clear();
        if mode == "w" {
            if t.is_empty() {
                t = new.clone();
            }
            // g is "0" or checked decimal digits (fewer than 16): $((g + 1)) is exact.
            let n = lossy(&g).parse::<u64>().unwrap_or(0) + 1;
            let content = cat(&[b"ferry-marker 1 ", &t, format!(" {n}\n").as_bytes()]);
            let has_mv = self.has_mv;
            let tmp = cat(&[&dir, b"/marker.new"]);
            let printf_line = script_line(
                "{ printf 'ferry-marker 1 %s %s\\n' \"$t\" \"$n\" >\"$dir/marker.new\"; }",
            );
            let cat_line = script_line("{ cat \"$dir/marker.new\" >\"$dir/marker\"; }");
            let (written, e) = self.sys(|sys| -> Result<(bool, Option<String>), Stop> {
                if let Some(m) = outcome(sys.mkdir_p(&dir))? {
                    return Ok((false, Some(m)));
                }
                match sys.write(&tmp, content.clone(), 0o666 & !sys.umask) {
                    Ok(()) => {}
                    Err(SysErr::Stop(s)) => return Err(s),
                    // { printf … >"$dir/marker.new"; } 2>"$st/e": the message is captured.
                    Err(SysErr::Errno(e)) => {
                        return Ok((false, Some(redirect_msg(sys.flavor, &tmp, e, printf_line))))
                    }
                }
                if has_mv {
                    if let Some(m) = outcome(sys.mv_f(&tmp, &marker))? {
                        return Ok((true, Some(m)));
                    }
                } else {
                    let data = sys.fs().read(&tmp, sys.cred).map(|d| (*d).clone());
                    match data {
                        Ok(d) => match sys.write(&marker, d, 0o666 & !sys.umask) {
                            Ok(()) => {
                                if let Err(SysErr::Stop(s)) = sys.unlink(&tmp) {
                                    return Err(s);
                                }
                            }
                            Err(SysErr::Stop(s)) => return Err(s),
                            Err(SysErr::Errno(e)) => {
                                let m = redirect_msg(sys.flavor, &marker, e, cat_line);
                                return Ok((true, Some(m)));
                            }
                        },
                        Err(e) => return Ok((true, Some(format!("cat: {}: {e}", lossy(&tmp))))),
                    }
                }
                Ok((true, None))
            })?;
            if let Some(m) = e {
                self.set_e(Some(&m));
            }
            if written {
                let st = self.c.lock();
                if let Some(f) = read_marker(&st.fs, self.cred) {
                    if field(&f, 2) == t && field(&f, 3) == n.to_string().as_bytes() {
                        a = n.to_string().into_bytes();
                    }
                }
            }
        }
        let ino = self
            .c
            .lock()
            .fs
            .stat(&self.root, self.cred)
            .map(|s| s.ino.to_string())
            .unwrap_or_default();
        let shown_t = if t.is_empty() {
            b"-".to_vec()
        } else {
            t.clone()
        };
        let mut out = cat(&[
            b"K ",
            &shown_t,
            format!(" {} {} {ino}\n", lossy(&g), lossy(&a)).as_bytes(),
        ]);
        if mode == "w" && a == g {
            let m = self.e_line();
            out.extend_from_slice(b"E ");
            if m.is_empty() {
                out.extend_from_slice(b"the marker could not be written");
            } else {
                out.extend_from_slice(&m);
            }
            out.push(b'\n');
        }
        self.send("ok", &out).await?;
        Ok(())
    }
}

/// GNU tar writes a member's content in pieces that end at its 10240-byte records: for
/// content at archive offset `at`, `len` bytes long, of which `written` landed, the piece
/// that came out short — `(bytes of it written, its size)`.
fn short_write(at: u64, len: u64, written: u64) -> Option<(u64, u64)> {
    const RECORD: u64 = 10240;
    let mut start = 0;
    while start < len {
        let size = (RECORD - (at + start) % RECORD).min(len - start);
        if written < start + size {
            return Some((written - start, size));
        }
        start += size;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_like_stat() {
        let t = Mtime::new(1_700_000_000, 123);
        assert_eq!(fmt_time(t, StatTimes::Seconds), "1700000000");
        assert_eq!(fmt_time(t, StatTimes::Decimal), "1700000000.000000123");
        assert_eq!(
            fmt_time(t, StatTimes::Human),
            "2023-11-14 22:13:20.000000123 +0000"
        );
        for secs in [-86_401i64, 0, 951_782_400, 4_102_444_800] {
            let t = Mtime::new(secs, 5);
            let h = fmt_time(t, StatTimes::Human);
            let f: Vec<&str> = h.split(' ').collect();
            assert_eq!(Mtime::parse_human(f[0], f[1], f[2]), Some(t), "{h}");
            assert_eq!(
                Mtime::parse_decimal(&fmt_time(t, StatTimes::Decimal)),
                Some(t)
            );
        }
    }
}
