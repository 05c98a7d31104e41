//! The container side of a sync, with no agent in the cluster: long-lived `sh`
//! processes in the container (started through Kubernetes exec, or locally for tests)
//! that use only the seed's tools (`sh tar cd sleep find stat mkdir rm cat printf echo
//! kill`) and extras when present (`mv head dd chmod touch gzip inotifywait`, a checksum
//! tool), detected once per session.
//!
//! | module | job |
//! |---|---|
//! | [`transport`] | the seam: [`Launcher`] starts a [`RemoteProcess`] (stdin, stdout, stderr, status, can-close-stdin) |
//! | [`local`] | [`LocalShell`]: a local `sh`, optionally chrooted into a root file system and as another user |
//! | `scripts` | the `.sh` files (loaded with `include_str!`, passed as `sh -c` arguments) |
//! | `wire` | framing: `STATUS LEN` replies, lockstep payloads, the shell-only payload encoding |
//! | [`session`] | [`Session`]: probe, list, upload, download, delete, mkdir, rename |
//! | [`caps`] | [`Capabilities`] and what each missing extra costs |
//! | [`listing`], [`upload`], [`download`] | the data of those commands; downloads stream into a [`DownloadSink`], checked to stay in the root and bounded per file |
//! | `untar` | the streaming tar parser of downloads (ustar, GNU, PAX) |
//! | `toolmsg` | the paths in `find`'s and `stat`'s error messages (GNU and busybox), for listings that know what they could not see |
//! | [`watch`] | [`RemoteWatcher`]: inotifywait, else incremental polling |
//! | [`path`], [`error`] | [`RelPath`], [`Mtime`]; [`SessionError`], [`FileError`] |
//! | [`place`] | where the container marker lives ([`place::choose`]), the marker ([`Mark`]) |
//!
//! Invariants:
//! - File names never appear in shell text: they travel in payloads (one per line,
//!   newline names refused) or inside tar archives, and are always used quoted.
//! - Every reply is `STATUS LEN` + LEN bytes; every payload is sent only after the
//!   container acknowledged its header, and read with an exact byte count, so nothing
//!   waits in the pipe for busybox to read ahead, and no end-of-file is needed
//!   (Kubernetes exec v4 works like v5).
//! - Uploaded files land with one rename each (`mv` from a staging folder inside the
//!   sync folder), with their mode and mtime.
//! - Every process ferry starts in the container ends when ferry's stream goes away.
//! - What the container could not list is unknown, never empty: a folder `find` could
//!   not read, a failed `find`, a message ferry cannot read (see [`Listing`]).

pub mod caps;
pub mod download;
pub mod error;
#[cfg(any(test, feature = "fake-container"))]
pub mod fake;
pub mod listing;
pub mod local;
pub mod path;
pub mod place;
mod scripts;
pub mod session;
mod toolmsg;
pub mod transport;
mod untar;
pub mod upload;
pub mod watch;
mod wire;

pub use caps::{Capabilities, ChecksumTool, MissingExtra, PayloadReader, TarFlavor};
pub use download::{
    target_inside, Download, DownloadSink, DownloadedEntry, DownloadedKind, Expected, IncomingFile,
    MemorySink,
};
pub use error::{FileError, FileErrorKind, SessionError};
pub use listing::{Depth, EntryKind, Listing, RemoteEntry};
pub use local::LocalShell;
pub use path::{Mtime, PathError, RelPath};
pub use place::{Mark, PlaceReport};
pub use session::{Compression, Expect, LinkPolicy, Session, SessionOptions};
pub use transport::{BoxFuture, ExitStatus, LaunchError, Launcher, RemoteProcess};
pub use upload::{Rejected, UploadFile, UploadLink, UploadReport};
pub use watch::{
    ActiveMode, RemoteWatcher, WatchEvent, WatchMode, WatchOptions, MAX_LINE, SILENCE_LIMIT,
};

/// `512 B`, `12 KiB`, `3.5 MiB`: a size for messages.
pub(crate) fn human_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{} KiB", n / 1024)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} GiB", n as f64 / (1024.0 * 1024.0 * 1024.0))
    }
}
