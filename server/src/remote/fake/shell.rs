//! The session process (`loop.sh` with `common.sh`, `probe.sh` and `sweep.sh`): start-up,
//! the hello, the command loop, reply framing and payload reading. The commands are in
//! `commands`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{
    AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};

use crate::remote::caps::{ChecksumTool, TarFlavor};
use crate::remote::scripts;

use super::fault::{FaultAction, StepKind};
use super::fs::{Cred, Kind};
use super::profile::{Flavor, StatTimes};
use super::tools::{lossy, Sys};
use super::{ExecHandler, FakeContainer, Stop};

/// ferry's end of a process's stdin. Shutting it down closes the pipe (the process reads
/// end-of-file), except in v4 mode, where only dropping it does.
pub(crate) struct ClientStdin {
    inner: Option<DuplexStream>,
    v4: bool,
}

impl ClientStdin {
    pub fn new(inner: DuplexStream, v4: bool) -> ClientStdin {
        ClientStdin {
            inner: Some(inner),
            v4,
        }
    }
}

impl AsyncWrite for ClientStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.inner.as_mut() {
            Some(w) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stdin was closed",
            ))),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.v4 {
            return self.poll_flush(cx);
        }
        self.inner = None;
        Poll::Ready(Ok(()))
    }
}

/// The process's end of its three pipes.
pub(crate) struct Io {
    input: Option<BufReader<DuplexStream>>,
    out: Option<DuplexStream>,
    err: Option<DuplexStream>,
}

impl Io {
    pub fn new(input: DuplexStream, out: DuplexStream, err: DuplexStream) -> Io {
        Io {
            input: Some(BufReader::with_capacity(64 * 1024, input)),
            out: Some(out),
            err: Some(err),
        }
    }

    /// One line with its newline removed; `None` at end-of-file (a last line without a
    /// newline counts as end-of-file, as for `read`).
    pub async fn read_line(&mut self) -> Option<Vec<u8>> {
        let input = self.input.as_mut()?;
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line).await {
            Ok(_) if line.last() == Some(&b'\n') => {
                line.pop();
                Some(line)
            }
            _ => None,
        }
    }

    /// Up to `n` bytes (fewer only at end-of-file).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Some(input) = self.input.as_mut() {
            let _ = input.take(n as u64).read_to_end(&mut buf).await;
        }
        buf
    }

    /// Writes to stdout; `false` when ferry's end is gone (the shell would die of
    /// SIGPIPE).
    pub async fn write(&mut self, bytes: &[u8]) -> bool {
        match self.out.as_mut() {
            Some(o) => o.write_all(bytes).await.is_ok() && o.flush().await.is_ok(),
            None => false,
        }
    }

    /// The stream drops: ferry reads end-of-file and its writes fail.
    pub fn drop_streams(&mut self) {
        self.input = None;
        self.out = None;
        self.err = None;
    }

    /// Waits until ferry closes stdin (reading and dropping whatever it sends).
    pub async fn drain(&mut self) {
        if let Some(input) = self.input.as_mut() {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = input.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
    }
}

/// How payloads are read (`$rd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Head,
    DdCount,
    DdBytes,
    Esc,
}

/// Why a command ended early.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The process ends.
    Stop(Stop),
    /// The command fails as a whole: reply `err` with this body.
    Err(Vec<u8>),
}

impl From<Stop> for Abort {
    fn from(s: Stop) -> Abort {
        Abort::Stop(s)
    }
}

pub(crate) type Flow = Result<(), Abort>;

/// One session process and the variables its script sets.
pub(crate) struct Shell {
    pub c: FakeContainer,
    pub pid: u32,
    pub io: Io,
    pub root: Vec<u8>,
    /// `$stgbase`: where uploads are staged (the root until `stage`).
    pub stgbase: Vec<u8>,
    pub st: Vec<u8>,
    pub ro: bool,
    pub cred: Cred,
    pub flavor: Flavor,
    pub umask: u32,
    pub home: Option<String>,
    pub rd: Reader,
    pub has_mv: bool,
    pub has_chmod: bool,
    pub has_touch: bool,
    /// `$tx` (tar's extract options) when tar works: `true` for `xpof`.
    pub tx: Option<bool>,
    pub tarv: Option<TarFlavor>,
    pub sf: StatTimes,
    pub fmd: bool,
    /// `$ck`: the checksum tool the probe found.
    pub ck: Option<ChecksumTool>,
    pub mountinfo: bool,
    pub statfs: bool,
    /// The content of `$st/e`: the last message a `2>"$st/e"` captured.
    pub e: Vec<u8>,
}

/// The 1-based line of the (minified) session script that contains `needle` (what dash
/// and ash print in messages), 0 when not found (a debug assertion fails then).
pub(crate) fn script_line(needle: &str) -> usize {
    let at = scripts::session().lines().position(|l| l.contains(needle));
    // A script that changed under the fake: its messages would name line 0.
    debug_assert!(at.is_some(), "the session script has no line {needle:?}");
    at.map_or(0, |i| i + 1)
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Runs a session process to its end.
pub(crate) async fn run_session(c: &FakeContainer, pid: u32, argv: Vec<String>, io: Io) -> Stop {
    let mut sh = match Shell::start(c, pid, &argv, io).await {
        Ok(sh) => sh,
        Err((stop, mut io)) => {
            if let Stop::Hang = stop {
                io.drain().await;
            }
            return stop;
        }
    };
    let stop = sh.serve().await;
    if let Stop::Hang = stop {
        sh.io.drain().await;
    }
    stop
}

/// Runs a command that is none of ferry's scripts: `pwd`, else the exec handler.
pub(crate) async fn run_other(
    c: &FakeContainer,
    argv: Vec<String>,
    mut io: Io,
    handler: Option<ExecHandler>,
) -> Stop {
    let (code, out) = if argv.len() == 3 && argv[0] == "sh" && argv[1] == "-c" && argv[2] == "pwd" {
        (0, format!("{}\n", c.lock().profile.workdir).into_bytes())
    } else if let Some(h) = handler {
        c.with(|st| h(&argv, &mut st.fs))
    } else {
        (0, Vec::new())
    };
    io.write(&out).await;
    Stop::Exit {
        code,
        cleanup: false,
    }
}

impl Shell {
    /// `loop.sh` up to the hello.
    async fn start(
        c: &FakeContainer,
        pid: u32,
        argv: &[String],
        io: Io,
    ) -> Result<Shell, (Stop, Io)> {
        let arg = |i: usize| argv.get(i).cloned().unwrap_or_default();
        let root = arg(4).into_bytes();
        let state_parent = arg(5);
        let disabled: Vec<String> = arg(6).split_whitespace().map(str::to_string).collect();
        let ro = argv.get(7).map_or("rw", String::as_str) == "ro";
        let profile = c.lock().profile.clone();
        let off = |t: &str| disabled.iter().any(|d| d == t);
        let tx = (!off("tar") && profile.tar.is_some()).then_some(profile.tar_preserve);
        let mut sh = Shell {
            c: c.clone(),
            pid,
            io,
            root: root.clone(),
            st: Vec::new(),
            ro,
            cred: profile.user,
            flavor: profile.flavor,
            umask: profile.umask,
            home: profile.home.clone(),
            rd: if !off("head") && profile.head {
                Reader::Head
            } else if !off("dd") && !off("ddcount") && profile.dd && profile.dd_count_bytes {
                Reader::DdCount
            } else if !off("dd") && profile.dd {
                Reader::DdBytes
            } else {
                Reader::Esc
            },
            has_mv: !off("mv") && profile.mv,
            has_chmod: !off("chmod") && profile.chmod,
            has_touch: !off("touch") && profile.touch,
            tx,
            tarv: if off("tar") {
                None
            } else {
                Some(profile.tar.unwrap_or(TarFlavor::Other))
            },
            sf: profile.stat_times,
            fmd: !off("maxdepth") && profile.find_maxdepth,
            ck: checksum_tool(&profile.checksums, &off),
            mountinfo: profile.mountinfo,
            statfs: profile.statfs,
            e: Vec::new(),
            stgbase: Vec::new(),
        };
        let candidates: Vec<Vec<u8>> = [
            Some(state_parent),
            profile.tmpdir.clone(),
            Some("/tmp".into()),
            Some("/var/tmp".into()),
            profile.home.clone(),
        ]
        .into_iter()
        .flatten()
        .map(String::into_bytes)
        .chain((!ro).then(|| root.clone()))
        .filter(|d| !d.is_empty())
        .collect();
        let name = format!("/.ferry-tmp-{pid}-s");
        let started = sh.sys(|sys| -> Result<Option<Vec<u8>>, Stop> {
            if !ro
                && !sys
                    .fs()
                    .stat(&root, sys.cred)
                    .is_ok_and(|s| s.kind == Kind::Dir)
            {
                if let Err(super::tools::ToolErr::Stop(s)) = sys.mkdir_p(&root) {
                    return Err(s);
                }
            }
            for d in &candidates {
                if !sys
                    .fs()
                    .stat(d, sys.cred)
                    .is_ok_and(|s| s.kind == Kind::Dir)
                {
                    continue;
                }
                let st = cat(&[d, name.as_bytes()]);
                match sys.mkdir(&st, 0o777 & !sys.umask) {
                    Ok(()) => return Ok(Some(st)),
                    Err(super::tools::SysErr::Stop(s)) => return Err(s),
                    Err(_) => {}
                }
            }
            Ok(None)
        });
        let st = match started {
            Err(stop) => return Err((stop, sh.io)),
            Ok(None) => {
                let msg = "no writable folder for ferry state (tried $TMPDIR, /tmp, /var/tmp, $HOME and the sync folder)";
                return match sh.say("err", msg.as_bytes()).await {
                    Err(stop) => Err((stop, sh.io)),
                    Ok(()) => Err((
                        Stop::Exit {
                            code: 2,
                            cleanup: false,
                        },
                        sh.io,
                    )),
                };
            }
            Ok(Some(st)) => st,
        };
        sh.st = st.clone();
        sh.stgbase = root.clone();
        let staging = cat(&[&root, format!("/.ferry-tmp-{pid}").as_bytes()]);
        c.lock().set_cleanup(pid, vec![st.clone(), staging]);
        let parent = match st.iter().rposition(|&b| b == b'/') {
            Some(i) => st[..i].to_vec(),
            None => Vec::new(),
        };
        let swept = sh.sys(|sys| -> Result<(), Stop> {
            if !ro {
                sweep(sys, &root)?;
            }
            sweep(sys, &parent)
        });
        if let Err(stop) = swept {
            return Err((stop, sh.io));
        }
        let hello = sh.probe(&disabled);
        if let Err(stop) = sh.send("ok", &hello).await {
            return Err((stop, sh.io));
        }
        Ok(sh)
    }

    /// `probe`: the hello's body.
    fn probe(&self, disabled: &[String]) -> Vec<u8> {
        let st = self.c.lock();
        let p = &st.profile;
        let off = |t: &str| disabled.iter().any(|d| d == t);
        let flag = |b: bool| if b { "1" } else { "" };
        let reader = match self.rd {
            Reader::Head => "head",
            Reader::DdCount => "ddc",
            Reader::DdBytes => "dd1",
            Reader::Esc => "esc",
        };
        let tx = match self.tx {
            Some(true) => "xpof",
            Some(false) => "xof",
            None => "",
        };
        let tarv = match self.tarv {
            Some(TarFlavor::Gnu) => "gnu",
            Some(TarFlavor::Busybox) => "busybox",
            Some(TarFlavor::Other) => "other",
            None => "",
        };
        let mt = match self.sf {
            StatTimes::Decimal => "n",
            StatTimes::Human => "y",
            StatTimes::Seconds => "s",
        };
        let ck = self.ck.map_or("", checksum_name);
        let root_dir = st
            .fs
            .stat(&self.root, self.cred)
            .is_ok_and(|s| s.kind == Kind::Dir);
        let root_w = st.fs.may_write(&self.root, self.cred);
        let mut out = format!(
            "proto=1\npid={}\nuid={}\nreader={reader}\n",
            self.pid, self.cred.uid
        );
        out += &format!(
            "mv={}\nchmod={}\ntouch={}\ngzip={}\n",
            flag(self.has_mv),
            flag(self.has_chmod),
            flag(self.has_touch),
            flag(!off("gzip") && p.gzip)
        );
        out += &format!(
            "tar={tx}\ntarflavor={tarv}\nmtime={mt}\nmaxdepth={}\nnewer={}\n",
            flag(self.fmd),
            flag(!off("newer") && p.find_newer)
        );
        out += &format!(
            "sleepfrac={}\ninotifywait={}\nchecksum={ck}\n",
            flag(!off("sleepfrac") && p.sleep_fraction),
            flag(!off("inotifywait") && p.inotifywait)
        );
        let mut out = out.into_bytes();
        out.extend_from_slice(
            format!(
                "rootexists={}\nrootwritable={}\nstate=",
                flag(root_dir),
                flag(root_w)
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.st);
        out.push(b'\n');
        out
    }

    /// The command loop.
    async fn serve(&mut self) -> Stop {
        loop {
            let Some(line) = self.io.read_line().await else {
                return Stop::Exit {
                    code: 0,
                    cleanup: true,
                };
            };
            // read -r c a b x y: split on blanks, the last variable takes the rest.
            let text = String::from_utf8_lossy(&line).into_owned();
            let mut words = text.split_whitespace();
            let c = words.next().unwrap_or("").to_string();
            let a = words.next().unwrap_or("").to_string();
            let b = words.next().unwrap_or("").to_string();
            let x = words.next().unwrap_or("").to_string();
            let y = words.collect::<Vec<_>>().join(" ");
            let r = self.command(&c, &a, &b, &x, &y).await;
            match r {
                Ok(()) => {}
                Err(Abort::Err(body)) => {
                    if let Err(stop) = self.send("err", &body).await {
                        return stop;
                    }
                }
                Err(Abort::Stop(stop)) => return stop,
            }
        }
    }

    async fn command(&mut self, c: &str, a: &str, b: &str, x: &str, y: &str) -> Flow {
        if self.step(StepKind::Header, || c.to_string())? {
            return Err(Abort::Err(
                format!("injected fault: {c} failed in the fake container").into_bytes(),
            ));
        }
        if self.ro
            && (matches!(
                c,
                "put" | "putf" | "rm" | "rmdir" | "mkdir" | "mv" | "stage"
            ) || (c == "mark" && b == "w"))
        {
            return Err(Abort::Err(
                b"this session is read-only (a dry run): nothing is changed".to_vec(),
            ));
        }
        match c {
            "ping" => Ok(self.say("ok", b"").await?),
            "list" => self.cmd_list(a, b).await,
            "put" => self.cmd_put(a, b, x).await,
            "putf" => self.cmd_putf(a, b, x, y).await,
            "get" => self.cmd_get(a).await,
            "getf" => self.cmd_getf(a).await,
            "rm" => self.cmd_rm(a, b).await,
            "rmdir" => self.cmd_rmdir(a).await,
            "mkdir" => self.cmd_mkdir(a).await,
            "mv" => self.cmd_mv(a).await,
            "place" => self.cmd_place().await,
            "mark" => self.cmd_mark(a, b).await,
            "stage" => self.cmd_stage(a).await,
            "sum" => self.cmd_sum(a).await,
            "quit" => {
                self.say("ok", b"").await?;
                Err(Abort::Stop(Stop::Exit {
                    code: 0,
                    cleanup: true,
                }))
            }
            _ => Err(Abort::Err(format!("unknown command: {c}").into_bytes())),
        }
    }

    /// Counts a step of this process; `Ok(true)`: fail here (a `Fail` fault).
    pub fn step(&mut self, kind: StepKind, what: impl FnOnce() -> String) -> Result<bool, Stop> {
        let a = self.c.lock().step(kind, self.pid, what);
        match a {
            None => Ok(false),
            Some(FaultAction::Fail) => Ok(true),
            Some(FaultAction::Kill) => Err(Stop::Killed),
            Some(FaultAction::Hang) => Err(Stop::Hang),
            Some(FaultAction::Drop | FaultAction::Truncate(_)) => {
                self.io.drop_streams();
                Ok(false)
            }
        }
    }

    /// Runs `f` with this process's system calls, then delivers the events; closes the
    /// streams if a `Drop` fault fired meanwhile.
    pub fn sys<R>(&mut self, f: impl FnOnce(&mut Sys) -> R) -> R {
        let (cred, flavor, umask, pid) = (self.cred, self.flavor, self.umask, self.pid);
        let (r, dropped) = self.c.with(|st| {
            let mut sys = Sys::new(st, pid, cred, flavor, umask);
            let r = f(&mut sys);
            (r, sys.dropped)
        });
        if dropped {
            self.io.drop_streams();
        }
        r
    }

    /// A reply: `STATUS LEN\n` + body (`say` and `send` of `common.sh`; `send` of an
    /// empty file is the same `STATUS 0\n`).
    pub async fn send(&mut self, status: &str, body: &[u8]) -> Result<(), Stop> {
        let mut bytes = format!("{status} {}\n", body.len()).into_bytes();
        bytes.extend_from_slice(body);
        let action = self.c.lock().step(StepKind::Reply, self.pid, || {
            format!("reply {status} {}", body.len())
        });
        match action {
            None => {}
            Some(FaultAction::Kill) => return Err(Stop::Killed),
            Some(FaultAction::Hang) => return Err(Stop::Hang),
            Some(FaultAction::Fail | FaultAction::Drop) => {
                self.io.drop_streams();
                return Err(Stop::Exit {
                    code: 1,
                    cleanup: true,
                });
            }
            Some(FaultAction::Truncate(n)) => {
                self.io.write(&bytes[..n.min(bytes.len())]).await;
                self.io.drop_streams();
                return Err(Stop::Exit {
                    code: 1,
                    cleanup: true,
                });
            }
        }
        if self.io.write(&bytes).await {
            Ok(())
        } else {
            // SIGPIPE: trap 'exit 1', then the EXIT trap.
            Err(Stop::Exit {
                code: 1,
                cleanup: true,
            })
        }
    }

    /// `say`: the same framing.
    pub async fn say(&mut self, status: &str, body: &[u8]) -> Result<(), Stop> {
        self.send(status, body).await
    }

    /// `fail WHAT FILE`: an `err` reply `WHAT: ` + the captured message.
    pub fn fail(&self, what: &str) -> Abort {
        Abort::Err(cat(&[what.as_bytes(), b": ", &self.e]))
    }

    /// Sets `$st/e` to a tool's message line (or empties it).
    pub fn set_e(&mut self, msg: Option<&str>) {
        self.e = msg
            .map(|m| format!("{m}\n").into_bytes())
            .unwrap_or_default();
    }

    /// The first line of `$st/e` (what `recm` puts after `M `).
    pub fn e_line(&self) -> Vec<u8> {
        self.e.split(|&b| b == b'\n').next().unwrap_or(&[]).to_vec()
    }

    /// `recv LEN FILE`: the ack, then exactly LEN payload bytes (or, with the `esc`
    /// reader, escaped lines up to an empty one). A payload that comes out short is a
    /// desync: `err` and the process ends (exit 3). `room` is where the payload file is
    /// written (its mount must have space for it).
    pub async fn recv(&mut self, len: &str, room: &[u8]) -> Result<Vec<u8>, Abort> {
        self.io.write(b"ack 0\n").await;
        let want: Option<usize> = len.parse().ok().filter(|_| !len.starts_with('+'));
        let data = match (self.rd, want) {
            (Reader::Esc, _) => {
                let mut out = Vec::new();
                while let Some(l) = self.io.read_line().await {
                    if l.is_empty() {
                        break;
                    }
                    out.extend(unescape(&l));
                }
                out
            }
            (_, Some(n)) => self.io.read_exact(n).await,
            (_, None) => Vec::new(),
        };
        if self.step(StepKind::Payload, || format!("payload {len}"))? {
            return Err(Abort::Err(
                b"injected fault: the payload could not be read".to_vec(),
            ));
        }
        let fits = {
            let st = self.c.lock();
            st.fs
                .space(room)
                .1
                .is_none_or(|free| free >= data.len() as u64)
        };
        if want != Some(data.len()) || !fits {
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
        Ok(data)
    }

    /// `$root/$p`.
    pub fn under_root(&self, p: &[u8]) -> Vec<u8> {
        cat(&[&self.root, b"/", p])
    }

    /// The staging folder `$stgbase/.ferry-tmp-$$`.
    pub fn staging(&self) -> Vec<u8> {
        cat(&[
            &self.stgbase,
            format!("/.ferry-tmp-{}", self.pid).as_bytes(),
        ])
    }
}

/// The probe's checksum tool: the first of `sha256sum`, `md5sum`, `cksum` present and
/// not disabled.
fn checksum_tool(present: &[ChecksumTool], off: &dyn Fn(&str) -> bool) -> Option<ChecksumTool> {
    [
        ChecksumTool::Sha256sum,
        ChecksumTool::Md5sum,
        ChecksumTool::Cksum,
    ]
    .into_iter()
    .find(|t| !off(checksum_name(*t)) && present.contains(t))
}

fn checksum_name(t: ChecksumTool) -> &'static str {
    match t {
        ChecksumTool::Sha256sum => "sha256sum",
        ChecksumTool::Md5sum => "md5sum",
        ChecksumTool::Cksum => "cksum",
    }
}

/// The lines of a payload as `while IFS= read -r l` sees them: only lines ending in a
/// newline.
pub(crate) fn lines(payload: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = payload.split(|&b| b == b'\n').collect();
    v.pop();
    v
}

/// Decodes one line of `printf` escapes (`\ooo`, `\\`, and any other byte as itself).
fn unescape(l: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        if l[i] == b'\\' && i + 1 < l.len() {
            let mut j = i + 1;
            let mut v: u32 = 0;
            while j < l.len() && j < i + 4 && (b'0'..=b'7').contains(&l[j]) {
                v = v * 8 + u32::from(l[j] - b'0');
                j += 1;
            }
            if j > i + 1 {
                out.push(v as u8);
                i = j;
                continue;
            }
            out.push(match l[i + 1] {
                b'n' => b'\n',
                b't' => b'\t',
                b'\\' => b'\\',
                other => other,
            });
            i += 2;
            continue;
        }
        out.push(l[i]);
        i += 1;
    }
    out
}

/// `sweep DIR`: removes `DIR/.ferry-tmp-PID…` folders whose process is gone.
pub(crate) fn sweep(sys: &mut Sys, dir: &[u8]) -> Result<(), Stop> {
    let Ok(entries) = sys.fs().readdir(dir, sys.cred) else {
        return Ok(());
    };
    for (name, _) in entries {
        let Some(rest) = name.strip_prefix(b".ferry-tmp-") else {
            continue;
        };
        let path = cat(&[dir, b"/", &name]);
        if !sys
            .fs()
            .stat(&path, sys.cred)
            .is_ok_and(|s| s.kind == Kind::Dir)
        {
            continue;
        }
        let digits: Vec<u8> = rest.iter().copied().take_while(|&b| b != b'-').collect();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(p) = lossy(&digits).parse::<u32>() else {
            continue;
        };
        if p != sys.pid && !sys.st.alive(p) {
            if let Err(super::tools::ToolErr::Stop(s)) = sys.rm_rf(&path) {
                return Err(s);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaped_lines_decode() {
        let line = crate::remote::wire::escape_line(b"a-b%\\\n\0\xff");
        assert_eq!(
            super::unescape(&line[..line.len() - 1]),
            b"a-b%\\\n\0\xff".to_vec()
        );
    }
}
