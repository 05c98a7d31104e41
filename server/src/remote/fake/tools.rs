//! The container's tools as the scripts use them (`mkdir -p`, `rm -rf`, `rmdir`, `mv -f`,
//! a shell redirection), on [`FakeFs`] through [`Sys`], with the messages busybox or GNU
//! coreutils (and ash or dash) write — checked against the real tools by the conformance
//! tests wherever a message reaches a reply.
//!
//! [`Sys`] is the system-call layer of one process: every file system change goes
//! through it and counts as an `Effect` step, where an armed fault may fire.

use super::fault::{FaultAction, StepKind};
use super::fs::{Cred, Errno, FakeFs, Kind};
use super::profile::Flavor;
use super::{State, Stop};

/// Why a system call did not happen.
#[derive(Debug)]
pub(crate) enum SysErr {
    /// It failed.
    Errno(Errno),
    /// A fault stopped the process.
    Stop(Stop),
}

impl From<Errno> for SysErr {
    fn from(e: Errno) -> SysErr {
        SysErr::Errno(e)
    }
}

/// Why a tool failed.
#[derive(Debug)]
pub(crate) enum ToolErr {
    /// Its first line on stderr.
    Msg(String),
    /// A fault stopped the process.
    Stop(Stop),
}

impl From<Stop> for ToolErr {
    fn from(s: Stop) -> ToolErr {
        ToolErr::Stop(s)
    }
}

/// Splits a tool result into "stopped" (the `Err`) and its message (`Some` on failure).
pub(crate) fn outcome(r: Result<(), ToolErr>) -> Result<Option<String>, Stop> {
    match r {
        Ok(()) => Ok(None),
        Err(ToolErr::Msg(m)) => Ok(Some(m)),
        Err(ToolErr::Stop(s)) => Err(s),
    }
}

pub(crate) fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// One process's view of the container: its credentials and tool flavor, and the state.
pub(crate) struct Sys<'a> {
    pub st: &'a mut State,
    pub pid: u32,
    pub cred: Cred,
    pub flavor: Flavor,
    pub umask: u32,
    /// A `Drop` fault fired: the process's streams must close, the work goes on.
    pub dropped: bool,
}

impl<'a> Sys<'a> {
    pub fn new(st: &'a mut State, pid: u32, cred: Cred, flavor: Flavor, umask: u32) -> Sys<'a> {
        let now = st.clock.now();
        st.fs.set_now(now);
        Sys {
            st,
            pid,
            cred,
            flavor,
            umask,
            dropped: false,
        }
    }

    pub fn fs(&self) -> &FakeFs {
        &self.st.fs
    }

    /// Counts an `Effect` step; `Ok(true)`: the system call must fail with `EIO`.
    fn effect(&mut self, what: impl FnOnce() -> String) -> Result<bool, Stop> {
        let Some(f) = self.st.step(StepKind::Effect, self.pid, what) else {
            return Ok(false);
        };
        match f {
            FaultAction::Fail => Ok(true),
            FaultAction::Kill => Err(Stop::Killed),
            FaultAction::Hang => Err(Stop::Hang),
            FaultAction::Drop | FaultAction::Truncate(_) => {
                self.dropped = true;
                Ok(false)
            }
        }
    }

    fn call(
        &mut self,
        name: &str,
        path: &[u8],
        op: impl FnOnce(&mut FakeFs, Cred) -> Result<(), Errno>,
    ) -> Result<(), SysErr> {
        if self
            .effect(|| format!("{name} {}", lossy(path)))
            .map_err(SysErr::Stop)?
        {
            return Err(SysErr::Errno(Errno::EIO));
        }
        let cred = self.cred;
        op(&mut self.st.fs, cred).map_err(SysErr::Errno)
    }

    pub fn mkdir(&mut self, path: &[u8], perm: u32) -> Result<(), SysErr> {
        self.call("mkdir", path, |fs, c| fs.mkdir(path, perm, c))
    }

    pub fn write(&mut self, path: &[u8], content: Vec<u8>, perm: u32) -> Result<(), SysErr> {
        self.call("write", path, |fs, c| fs.write(path, content, perm, c))
    }

    pub fn symlink(&mut self, target: &[u8], path: &[u8]) -> Result<(), SysErr> {
        self.call("symlink", path, |fs, c| fs.symlink(target, path, c))
    }

    pub fn unlink(&mut self, path: &[u8]) -> Result<(), SysErr> {
        self.call("unlink", path, |fs, c| fs.unlink(path, c))
    }

    pub fn rmdir(&mut self, path: &[u8]) -> Result<(), SysErr> {
        self.call("rmdir", path, |fs, c| fs.rmdir(path, c))
    }

    pub fn rename(&mut self, from: &[u8], to: &[u8]) -> Result<(), SysErr> {
        self.call("rename", from, |fs, c| fs.rename(from, to, c))
    }

    pub fn chmod(&mut self, path: &[u8], perm: u32) -> Result<(), SysErr> {
        self.call("chmod", path, |fs, c| fs.chmod(path, perm, c))
    }

    pub fn set_mtime(
        &mut self,
        path: &[u8],
        t: crate::remote::Mtime,
        follow: bool,
    ) -> Result<(), SysErr> {
        self.call("utime", path, |fs, c| fs.set_mtime(path, t, follow, c))
    }

    /// `rm -rf PATH` outside the step count (an `EXIT` trap, the container's own
    /// processes): depth first, ignoring what cannot be removed; the first error.
    pub fn quiet_rm_rf(&mut self, path: &[u8]) -> Result<(), Errno> {
        let cred = self.cred;
        let fs = &mut self.st.fs;
        fn go(fs: &mut FakeFs, path: &[u8], cred: Cred) -> Result<(), Errno> {
            let st = match fs.lstat(path, cred) {
                Ok(s) => s,
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(e),
            };
            if st.kind != Kind::Dir {
                return fs.unlink(path, cred);
            }
            let mut first = Ok(());
            for (name, _) in fs.readdir(path, cred)? {
                let mut p = path.to_vec();
                p.push(b'/');
                p.extend_from_slice(&name);
                if let Err(e) = go(fs, &p, cred) {
                    first = first.and(Err(e));
                }
            }
            first?;
            fs.rmdir(path, cred)
        }
        go(fs, path, cred)
    }

    /// The tool's `can't`/`cannot` word.
    fn cant(&self) -> &'static str {
        match self.flavor {
            Flavor::Busybox => "can't",
            Flavor::Gnu => "cannot",
        }
    }

    // ----- tools --------------------------------------------------------------------

    /// `mkdir -p PATH`: every missing folder, mode `0777 & ~umask`.
    pub fn mkdir_p(&mut self, path: &[u8]) -> Result<(), ToolErr> {
        let comps: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let mut prefix = Vec::new();
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            prefix.push(b'/');
            prefix.extend_from_slice(c);
            let fail = |sys: &Sys, e: Errno| {
                // busybox names an inner folder with its slash ('a/'), GNU without.
                let mut shown = lossy(&prefix);
                if !last && sys.flavor == Flavor::Busybox {
                    shown.push('/');
                }
                ToolErr::Msg(format!(
                    "mkdir: {} create directory '{shown}': {e}",
                    sys.cant()
                ))
            };
            match self.fs().stat(&prefix, self.cred) {
                Ok(s) if s.kind == Kind::Dir => continue,
                Ok(_) => {
                    return Err(fail(
                        self,
                        if last { Errno::EEXIST } else { Errno::ENOTDIR },
                    ))
                }
                Err(Errno::ENOENT) => {}
                Err(Errno::EACCES) if self.flavor == Flavor::Gnu && i > 0 => {
                    // GNU mkdir -p walks with chdir: it names the folder it cannot enter.
                    prefix.truncate(prefix.len() - c.len() - 1);
                    return Err(ToolErr::Msg(format!(
                        "mkdir: cannot create directory '{}': {}",
                        lossy(&prefix),
                        Errno::EACCES
                    )));
                }
                Err(e) => return Err(fail(self, e)),
            }
            match self.mkdir(&prefix, 0o777 & !self.umask) {
                Ok(()) => {}
                Err(SysErr::Stop(s)) => return Err(ToolErr::Stop(s)),
                Err(SysErr::Errno(e)) => return Err(fail(self, e)),
            }
        }
        Ok(())
    }

    /// `rmdir PATH`.
    pub fn rmdir_tool(&mut self, path: &[u8]) -> Result<(), ToolErr> {
        match self.rmdir(path) {
            Ok(()) => Ok(()),
            Err(SysErr::Stop(s)) => Err(ToolErr::Stop(s)),
            Err(SysErr::Errno(e)) => Err(ToolErr::Msg(match self.flavor {
                Flavor::Busybox => format!("rmdir: '{}': {e}", lossy(path)),
                Flavor::Gnu => format!("rmdir: failed to remove '{}': {e}", lossy(path)),
            })),
        }
    }

    /// `rm -rf PATH`: removes what it can; the first error line.
    pub fn rm_rf(&mut self, path: &[u8]) -> Result<(), ToolErr> {
        let mut first = None;
        self.rm_into(path, &mut first)?;
        match first {
            Some(m) => Err(ToolErr::Msg(m)),
            None => Ok(()),
        }
    }

    fn rm_msg(&self, path: &[u8], e: Errno) -> String {
        format!("rm: {} remove '{}': {e}", self.cant(), lossy(path))
    }

    /// Returns whether `path` is gone.
    fn rm_into(&mut self, path: &[u8], first: &mut Option<String>) -> Result<bool, Stop> {
        let st = match self.fs().lstat(path, self.cred) {
            Ok(s) => s,
            Err(Errno::ENOENT) => return Ok(true),
            Err(e) => {
                first.get_or_insert_with(|| self.rm_msg(path, e));
                return Ok(false);
            }
        };
        let mut all_gone = true;
        if st.kind == Kind::Dir {
            match self.fs().readdir(path, self.cred) {
                Ok(children) => {
                    for (name, _) in children {
                        let mut p = path.to_vec();
                        p.push(b'/');
                        p.extend_from_slice(&name);
                        all_gone &= self.rm_into(&p, first)?;
                    }
                }
                Err(e) => {
                    // busybox rm -f gives up on an unreadable folder without a word.
                    if self.flavor == Flavor::Busybox {
                        return Ok(false);
                    }
                    first.get_or_insert_with(|| self.rm_msg(path, e));
                    all_gone = false;
                }
            }
            if !all_gone && self.flavor == Flavor::Gnu {
                // GNU rm does not try a folder whose contents it could not remove.
                return Ok(false);
            }
            match self.rmdir(path) {
                Ok(()) => Ok(true),
                Err(SysErr::Stop(s)) => Err(s),
                Err(SysErr::Errno(e)) => {
                    first.get_or_insert_with(|| self.rm_msg(path, e));
                    Ok(false)
                }
            }
        } else {
            match self.unlink(path) {
                Ok(()) => Ok(true),
                Err(SysErr::Stop(s)) => Err(s),
                Err(SysErr::Errno(e)) => {
                    first.get_or_insert_with(|| self.rm_msg(path, e));
                    Ok(false)
                }
            }
        }
    }

    /// `mv -f FROM TO` where TO is not an existing folder (the scripts check that first):
    /// one rename, or copy and remove across mounts.
    pub fn mv_f(&mut self, from: &[u8], to: &[u8]) -> Result<(), ToolErr> {
        let (f, t) = (lossy(from), lossy(to));
        let gnu = self.flavor == Flavor::Gnu;
        let src = match self.fs().lstat(from, self.cred) {
            Ok(s) => s,
            Err(e) => {
                return Err(ToolErr::Msg(if gnu {
                    format!("mv: cannot stat '{f}': {e}")
                } else {
                    format!("mv: can't rename '{f}': {e}")
                }))
            }
        };
        let dst = self.fs().lstat(to, self.cred);
        match &dst {
            Err(Errno::ENOENT) | Ok(_) => {}
            Err(e) => {
                return Err(ToolErr::Msg(match (gnu, e) {
                    (true, e) => format!("mv: cannot stat '{t}': {e}"),
                    (false, Errno::ENOTDIR) => {
                        format!("mv: can't stat '{t}': Path has non-directory component")
                    }
                    (false, e) => format!("mv: can't stat '{t}': {e}"),
                }))
            }
        }
        if gnu && src.kind == Kind::Dir {
            if let Ok(d) = &dst {
                if d.kind != Kind::Dir {
                    return Err(ToolErr::Msg(format!(
                        "mv: cannot overwrite non-directory '{t}' with directory '{f}'"
                    )));
                }
            }
        }
        match self.rename(from, to) {
            Ok(()) => Ok(()),
            Err(SysErr::Stop(s)) => Err(ToolErr::Stop(s)),
            Err(SysErr::Errno(Errno::EXDEV)) => self.copy_then_remove(from, to),
            Err(SysErr::Errno(e)) => Err(ToolErr::Msg(match (gnu, e) {
                (true, Errno::EINVAL) => {
                    format!("mv: cannot move '{f}' to a subdirectory of itself, '{t}'")
                }
                (true, e) => format!("mv: cannot move '{f}' to '{t}': {e}"),
                (false, e) => format!("mv: can't rename '{f}': {e}"),
            })),
        }
    }

    /// `rm -f PATH` of a non-folder, ignoring failures (but not a fault's stop).
    pub fn unlink_if_there(&mut self, path: &[u8]) -> Result<(), Stop> {
        if self.fs().lstat(path, self.cred).is_err() {
            return Ok(());
        }
        match self.unlink(path) {
            Err(SysErr::Stop(s)) => Err(s),
            _ => Ok(()),
        }
    }

    /// `mv` across mounts: copy (files and symlinks; folders recursively), then remove.
    fn copy_then_remove(&mut self, from: &[u8], to: &[u8]) -> Result<(), ToolErr> {
        self.copy_tree(from, to)?;
        self.rm_rf(from)
    }

    fn copy_tree(&mut self, from: &[u8], to: &[u8]) -> Result<(), ToolErr> {
        let msg = |sys: &Sys, e: Errno| {
            ToolErr::Msg(format!("mv: {} create '{}': {e}", sys.cant(), lossy(to)))
        };
        let st = self.fs().lstat(from, self.cred).map_err(|e| msg(self, e))?;
        let r = match st.kind {
            Kind::Dir => {
                if let Err(ToolErr::Stop(s)) = self.rm_rf(to) {
                    return Err(ToolErr::Stop(s));
                }
                self.mkdir(to, st.perm)
            }
            Kind::Symlink => {
                let target = self.fs().readlink(from, self.cred).unwrap_or_default();
                self.unlink_if_there(to)?;
                self.symlink(&target, to)
            }
            _ => {
                let data = self.fs().read(from, self.cred).map_err(|e| msg(self, e))?;
                self.unlink_if_there(to)?;
                self.write(to, (*data).clone(), st.perm)
            }
        };
        match r {
            Ok(()) => {}
            Err(SysErr::Stop(s)) => return Err(ToolErr::Stop(s)),
            Err(SysErr::Errno(e)) => return Err(msg(self, e)),
        }
        if st.kind == Kind::Dir {
            let children = self.fs().readdir(from, self.cred).unwrap_or_default();
            for (name, _) in children {
                let mut a = from.to_vec();
                a.push(b'/');
                a.extend_from_slice(&name);
                let mut b = to.to_vec();
                b.push(b'/');
                b.extend_from_slice(&name);
                self.copy_tree(&a, &b)?;
            }
        }
        if st.kind != Kind::Symlink {
            if let Err(SysErr::Stop(s)) = self.set_mtime(to, st.mtime, false) {
                return Err(ToolErr::Stop(s));
            }
        }
        Ok(())
    }
}

/// The shell's name in its messages: `$0` of `sh -c SCRIPT NAME`.
const SH: &str = "ferry-session";

/// The shell's message when `>"$path"` cannot be opened (`line`: the script line, which
/// dash prints).
pub(crate) fn redirect_msg(flavor: Flavor, path: &[u8], e: Errno, line: usize) -> String {
    let p = lossy(path);
    match flavor {
        Flavor::Busybox => {
            let e = if e == Errno::ENOENT {
                "nonexistent directory".to_string()
            } else {
                e.to_string()
            };
            // ash names the line before (as for cd).
            format!(
                "{SH}: line {}: can't create {p}: {e}",
                line.saturating_sub(1)
            )
        }
        Flavor::Gnu => {
            let e = if e == Errno::ENOENT {
                "Directory nonexistent".to_string()
            } else {
                e.to_string()
            };
            format!("{SH}: {line}: cannot create {p}: {e}")
        }
    }
}

/// The shell's message when `cd "$path"` fails (`line`: the script line; busybox ash
/// counts from the line before).
pub(crate) fn cd_msg(flavor: Flavor, path: &[u8], e: Errno, line: usize) -> String {
    match flavor {
        Flavor::Busybox => format!(
            "{SH}: cd: line {}: can't cd to {}: {e}",
            line.saturating_sub(1),
            lossy(path)
        ),
        Flavor::Gnu => format!("{SH}: {line}: cd: can't cd to {}", lossy(path)),
    }
}
