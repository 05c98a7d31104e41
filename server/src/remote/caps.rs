//! [`Capabilities`]: which tools the container has, detected once when a session starts
//! (the session script's `probe`), and what each missing extra costs.

/// How the container reads a payload of N bytes from stdin (busybox `head -c N` is exact
/// only because ferry sends nothing else meanwhile; see the session protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadReader {
    /// `head -c N`.
    Head,
    /// `dd bs=65536 count=N iflag=fullblock,count_bytes`.
    DdCountBytes,
    /// `dd bs=1 count=N`: exact with any `dd`, one system call per byte.
    DdBytewise,
    /// Shell builtins only: the payload goes as lines of `printf` escapes (`\ooo`),
    /// decoded by `while read -r l; do printf "$l"; done`. Up to four times the bytes
    /// and slow, but needs nothing beyond `sh`.
    ShellLines,
}

/// Which `tar` the container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarFlavor {
    /// GNU tar.
    Gnu,
    /// busybox tar.
    Busybox,
    /// Some other tar that passed the probe.
    Other,
}

/// How precise the container's `stat` reports modification times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MtimeFormat {
    /// `%.9Y` (GNU coreutils): `SECS.NANOS`.
    Decimal,
    /// `%y` with nanoseconds (busybox): `YYYY-MM-DD HH:MM:SS.NNNNNNNNN +ZZZZ`.
    Human,
    /// `%Y`: whole seconds.
    Seconds,
}

/// A content checksum tool in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumTool {
    /// `sha256sum`.
    Sha256sum,
    /// `md5sum`.
    Md5sum,
    /// POSIX `cksum` (CRC-32).
    Cksum,
}

/// What the container offers, as the session's probe found it. The required tools
/// (`sh`, `find`, `stat -c`, `cat`, `printf`, `mkdir`, `rm`, `kill`, `sleep`) are checked
/// when the session starts; everything here is an extra ferry uses when present.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The pid of the session's shell in the container (in the container's pid
    /// namespace).
    pub session_pid: u32,
    /// The user id the session runs as, when the probe could tell.
    pub uid: Option<u32>,
    /// How payloads are read (`head`, `dd`, or shell builtins).
    pub payload_reader: PayloadReader,
    /// `mv` (atomic rename into place).
    pub mv: bool,
    /// `chmod` (needed only without `tar`, to set modes).
    pub chmod: bool,
    /// `touch -d @SECS` (needed only without `tar`, to set mtimes).
    pub touch: bool,
    /// `gzip` (compressed uploads).
    pub gzip: bool,
    /// `tar`, and which one (`None`: files go one by one).
    pub tar: Option<TarFlavor>,
    /// `inotifywait` (push-based remote change detection).
    pub inotifywait: bool,
    /// A checksum tool, the best found.
    pub checksum: Option<ChecksumTool>,
    /// `find -maxdepth` (list one folder without its subtree).
    pub find_maxdepth: bool,
    /// `find -newer` (incremental polling).
    pub find_newer: bool,
    /// `sleep` with fractions (poll intervals below a second).
    pub sleep_fraction: bool,
    /// The sync folder exists.
    pub root_exists: bool,
    /// The sync folder is writable by the session's user.
    pub root_writable: bool,
    /// The session's private state folder in the container.
    pub state_dir: String,
    pub(crate) mtime_format: MtimeFormat,
    pub(crate) tar_extract: String,
}

/// One missing extra and what its absence costs, for `ferry doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingExtra {
    /// The tool, e.g. `gzip`.
    pub tool: &'static str,
    /// What ferry does without it and what that costs.
    pub cost: &'static str,
}

impl Capabilities {
    /// Whether listings carry nanosecond mtimes (GNU `stat %.9Y`, busybox `stat %y`);
    /// otherwise whole seconds.
    pub fn mtime_nanos(&self) -> bool {
        self.mtime_format != MtimeFormat::Seconds
    }

    /// Every extra the container lacks and what ferry does instead, in order of impact.
    pub fn missing_extras(&self) -> Vec<MissingExtra> {
        let mut out = Vec::new();
        let mut add = |missing: bool, tool, cost| {
            if missing {
                out.push(MissingExtra { tool, cost });
            }
        };
        add(
            self.tar.is_none(),
            "tar",
            "files go one by one (a round trip or three per file instead of one archive per batch), symlinks are not synced either way (ferry reads and creates links with tar), and without tar nothing is compressed",
        );
        add(
            !self.mv,
            "mv",
            "files are written in place instead of renamed into place: watchers in the container (nodemon, inotify) can see half-written files, and renames are not possible (the engine deletes and uploads instead)",
        );
        add(
            self.payload_reader == PayloadReader::ShellLines,
            "head or dd",
            "uploads are sent as printf-escaped text read by the shell byte by byte: up to four times the bytes and far slower (fine for source files, painful for large binaries)",
        );
        add(
            self.payload_reader == PayloadReader::DdBytewise,
            "head",
            "uploads are read with `dd bs=1`: one system call per byte, roughly 1 MB/s",
        );
        add(
            !self.inotifywait,
            "inotifywait",
            "remote changes are found by polling (`find -newer` a few times a second, a full listing every so often): they arrive a few hundred milliseconds later and each tick walks the tree (a few percent of a core at 10k files); inotifywait comes with inotify-tools (`apt-get install inotify-tools`, `apk add inotify-tools`) — busybox's inotifyd is not used, and Debian's busybox has none",
        );
        add(
            !self.gzip && self.tar.is_some(),
            "gzip",
            "uploads are sent uncompressed (source code is about five times larger on the wire)",
        );
        add(
            self.tar.is_none() && !self.chmod,
            "chmod",
            "without tar, uploaded files get the container's default mode: the executable bit is lost",
        );
        add(
            self.tar.is_none() && !self.touch,
            "touch",
            "without tar, uploaded files get the upload time as mtime, so mtimes differ between the two sides (the engine must compare sizes or contents)",
        );
        add(
            !self.find_newer,
            "find -newer",
            "the polling watcher cannot work: remote changes are only seen by full listings",
        );
        add(
            !self.find_maxdepth,
            "find -maxdepth",
            "listing one folder lists its whole subtree",
        );
        add(
            self.checksum.is_none(),
            "sha256sum, md5sum or cksum",
            "same-size files cannot be compared by content in the container: size and mtime decide",
        );
        add(
            self.mtime_format == MtimeFormat::Seconds,
            "stat with sub-second times",
            "remote mtimes are whole seconds, so two changes within one second may look alike",
        );
        out
    }

    /// Parses the probe's `key=value` lines (`state=` comes last and takes the rest).
    pub(crate) fn parse(body: &[u8]) -> Result<Capabilities, String> {
        let text = String::from_utf8_lossy(body);
        let (head, state) = match text.find("\nstate=") {
            Some(i) => (
                &text[..i],
                text[i + "\nstate=".len()..]
                    .strip_suffix('\n')
                    .unwrap_or(&text[i + 7..]),
            ),
            None => {
                return Err(format!(
                    "the probe did not report its state folder: {text:?}"
                ))
            }
        };
        let mut kv = std::collections::HashMap::new();
        for line in head.lines() {
            if let Some((k, v)) = line.split_once('=') {
                kv.insert(k, v);
            }
        }
        let get = |k: &str| kv.get(k).copied().unwrap_or("");
        let flag = |k: &str| !get(k).is_empty();
        if get("proto") != "1" {
            return Err(format!(
                "unknown protocol version {:?} (expected 1)",
                get("proto")
            ));
        }
        Ok(Capabilities {
            session_pid: get("pid")
                .parse()
                .map_err(|_| format!("bad pid {:?}", get("pid")))?,
            uid: get("uid").parse().ok(),
            payload_reader: match get("reader") {
                "head" => PayloadReader::Head,
                "ddc" => PayloadReader::DdCountBytes,
                "dd1" => PayloadReader::DdBytewise,
                _ => PayloadReader::ShellLines,
            },
            mv: flag("mv"),
            chmod: flag("chmod"),
            touch: flag("touch"),
            gzip: flag("gzip"),
            tar: match get("tar") {
                "" => None,
                _ => Some(match get("tarflavor") {
                    "gnu" => TarFlavor::Gnu,
                    "busybox" => TarFlavor::Busybox,
                    _ => TarFlavor::Other,
                }),
            },
            inotifywait: flag("inotifywait"),
            checksum: match get("checksum") {
                "sha256sum" => Some(ChecksumTool::Sha256sum),
                "md5sum" => Some(ChecksumTool::Md5sum),
                "cksum" => Some(ChecksumTool::Cksum),
                _ => None,
            },
            find_maxdepth: flag("maxdepth"),
            find_newer: flag("newer"),
            sleep_fraction: flag("sleepfrac"),
            root_exists: flag("rootexists"),
            root_writable: flag("rootwritable"),
            state_dir: state.to_string(),
            mtime_format: match get("mtime") {
                "n" => MtimeFormat::Decimal,
                "y" => MtimeFormat::Human,
                _ => MtimeFormat::Seconds,
            },
            tar_extract: get("tar").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parses() {
        let body = b"proto=1\npid=42\nuid=1000\nreader=head\nmv=1\nchmod=1\ntouch=\ngzip=1\ntar=xof\ntarflavor=busybox\nmtime=y\nmaxdepth=1\nnewer=1\nsleepfrac=1\ninotifywait=\nchecksum=sha256sum\nrootexists=1\nrootwritable=1\nstate=/tmp/a\nb\n";
        let c = Capabilities::parse(body).unwrap();
        assert_eq!(c.session_pid, 42);
        assert_eq!(c.uid, Some(1000));
        assert_eq!(c.tar, Some(TarFlavor::Busybox));
        assert!(!c.touch && c.gzip && c.mtime_nanos());
        assert_eq!(c.state_dir, "/tmp/a\nb");
        let missing: Vec<_> = c.missing_extras().iter().map(|m| m.tool).collect();
        assert_eq!(missing, ["inotifywait"]);
        assert!(Capabilities::parse(b"proto=2\nstate=x\n").is_err());
    }
}
