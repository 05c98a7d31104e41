//! [`Profile`]: what the fake container is like — which tools its probe finds, how its
//! `stat` prints times, which flavor of tools and shell writes its messages, who the
//! session runs as.

use crate::remote::caps::{ChecksumTool, TarFlavor};

use super::fs::Cred;

/// Which implementation of the core tools (and of `sh`) the container has. It decides
/// every message a tool writes into a reply (`mkdir: can't create directory …` vs
/// `mkdir: cannot create directory …`), `find`'s and `tar`'s error lines, and the shell's
/// (`sh: can't create …` from busybox ash, `sh: 8: cannot create …` from dash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// busybox (ash and the applets), as in the `busybox` image.
    Busybox,
    /// GNU coreutils, findutils, tar, and dash as `sh`, as in the `debian` image.
    Gnu,
}

/// How the container's `stat -c` prints modification times (what the probe finds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatTimes {
    /// `%Y`: whole seconds (an old or minimal `stat`).
    Seconds,
    /// `%.9Y`: `SECS.NANOS` (GNU coreutils).
    Decimal,
    /// `%y`: `YYYY-MM-DD HH:MM:SS.NNNNNNNNN +0000` (busybox).
    Human,
}

/// What the container is like. Build one from [`Profile::busybox`] or [`Profile::debian`]
/// (which match the test images' probes) and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Tool and shell flavor (messages, `find`/`tar` error lines).
    pub flavor: Flavor,
    /// How `stat` prints mtimes.
    pub stat_times: StatTimes,
    /// `tar` and which one (`None`: no tar; uploads go file by file).
    pub tar: Option<TarFlavor>,
    /// `tar xpof` works (modes exactly as archived); else `tar xof` (the umask applies).
    pub tar_preserve: bool,
    /// `gzip`.
    pub gzip: bool,
    /// `mv`.
    pub mv: bool,
    /// `chmod`.
    pub chmod: bool,
    /// `touch -d @SECS`.
    pub touch: bool,
    /// `head -c`.
    pub head: bool,
    /// `dd`.
    pub dd: bool,
    /// `dd iflag=count_bytes`.
    pub dd_count_bytes: bool,
    /// `find -maxdepth`.
    pub find_maxdepth: bool,
    /// `find -newer`.
    pub find_newer: bool,
    /// `sleep` with fractions.
    pub sleep_fraction: bool,
    /// `inotifywait`.
    pub inotifywait: bool,
    /// The checksum tools it has (the probe takes the first of `sha256sum`, `md5sum`,
    /// `cksum` that is present and not disabled).
    pub checksums: Vec<ChecksumTool>,
    /// `/proc/self/mountinfo` is readable (a real container: yes; the chroots of the
    /// protocol tests have no `/proc`).
    pub mountinfo: bool,
    /// `stat -f -c '%a %S'` works (the free space in `put`'s `X` report).
    pub statfs: bool,
    /// The session's umask.
    pub umask: u32,
    /// The user the session and watchers run as (`runAsUser`).
    pub user: Cred,
    /// `$HOME` (`None`: unset). [`Profile::busybox`] and [`Profile::debian`] use what
    /// `LocalShell` sets: `/root` for root, `/` for other users.
    pub home: Option<String>,
    /// `$TMPDIR` (`None`: unset).
    pub tmpdir: Option<String>,
    /// The working directory `sh -c pwd` prints (relative container paths start there).
    pub workdir: String,
    /// The exec stream cannot close stdin (Kubernetes exec v4): shutting ferry's stdin
    /// down reaches the container only when it is dropped.
    pub v4: bool,
}

impl Profile {
    /// Like the `busybox` test image: busybox 1.35 tools, `tar` (busybox, `xpof`),
    /// `gzip`, `sha256sum`, `stat %y` times, no `inotifywait`, as root.
    pub fn busybox() -> Profile {
        Profile {
            flavor: Flavor::Busybox,
            stat_times: StatTimes::Human,
            tar: Some(TarFlavor::Busybox),
            tar_preserve: true,
            gzip: true,
            mv: true,
            chmod: true,
            touch: true,
            head: true,
            dd: true,
            dd_count_bytes: true,
            find_maxdepth: true,
            find_newer: true,
            sleep_fraction: true,
            inotifywait: false,
            checksums: vec![
                ChecksumTool::Sha256sum,
                ChecksumTool::Md5sum,
                ChecksumTool::Cksum,
            ],
            mountinfo: false,
            statfs: true,
            umask: 0o022,
            user: Cred::ROOT,
            home: Some("/root".into()),
            tmpdir: None,
            workdir: "/".into(),
            v4: false,
        }
    }

    /// Like the `debian` test image: GNU coreutils, findutils and tar, dash, `gzip`,
    /// `sha256sum`, `stat %.9Y` times, no `inotifywait`, as root.
    pub fn debian() -> Profile {
        Profile {
            flavor: Flavor::Gnu,
            stat_times: StatTimes::Decimal,
            tar: Some(TarFlavor::Gnu),
            ..Profile::busybox()
        }
    }

    /// This profile with `inotifywait` (the `debian:inotify` image).
    pub fn with_inotify(mut self) -> Profile {
        self.inotifywait = true;
        self
    }

    /// This profile without `tar` (the `:notar` images).
    pub fn without_tar(mut self) -> Profile {
        self.tar = None;
        self
    }

    /// This profile as `uid:gid`, with `$HOME` as `LocalShell` sets it (`/` for a user
    /// other than root).
    pub fn as_user(mut self, uid: u32, gid: u32) -> Profile {
        self.user = Cred { uid, gid };
        self.home = Some(if uid == 0 { "/root" } else { "/" }.into());
        self
    }
}
