//! Fault injection: the container's I/O steps are numbered, and a [`Fault`] fires at the
//! N-th one.
//!
//! # Steps
//!
//! Every process the fake runs counts its steps on one counter per container, in the order
//! they happen:
//!
//! | [`StepKind`] | when |
//! |---|---|
//! | `Launch` | a process is started (session, watcher, `pwd`, hook) |
//! | `Header` | a session read a command line (before doing anything for it) |
//! | `Payload` | a session read a payload (before using it) |
//! | `Effect` | a session is about to change the file system (one `mkdir`, file write, `unlink`, `rmdir`, `rename`, `chmod`, `utime`, `symlink`: extracting an upload is one step per entry, landing a file one per folder made plus one per rename) |
//! | `Reply` | a session is about to write a reply (the hello included; not the acks) |
//!
//! So "crash at every I/O step" is: for k = 0, 1, 2, … run the scenario with
//! `Fault::at(k)`, until [`super::FakeContainer::fired`] says the fault never fired (the
//! scenario has fewer steps than k).
//!
//! # Actions
//!
//! | [`FaultAction`] | at `Header`/`Payload` | at `Effect` | at `Reply` | at `Launch` |
//! |---|---|---|---|---|
//! | `Fail` | the reply is `err` (nothing changed) | this system call fails with `EIO` (a per-file failure, as a bad disk gives) | like `Drop` | the launch fails |
//! | `Kill` | the process dies now: its streams end, no cleanup (staging and state folders stay, as after `kill -9`) | same | same | the process ends at once |
//! | `Drop` | the stream drops now: ferry sees end-of-file; the process finishes the command (its effects happen), then exits cleaning up | same | same | same as `Kill` |
//! | `Hang` | the process stops answering; when ferry drops the stream it exits, cleaning up | same | same | the launch never returns |
//! | `Truncate(n)` | – | – | only the first n bytes of the reply are written, then like `Drop` | – |
//!
//! `Truncate` counts only `Reply` steps. With [`Scope::Container`], `Kill` and `Drop`
//! also end every other process of the container (a pod dying, or the whole connection to
//! it breaking), and [`Fault::then`] replaces the pod or restarts the container at that
//! very moment (before anyone can reconnect).

use super::Replacement;

/// The kind of an I/O step (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// A process is started.
    Launch,
    /// A command line was read.
    Header,
    /// A payload was read.
    Payload,
    /// A file system change is about to be made.
    Effect,
    /// A reply is about to be written.
    Reply,
}

impl StepKind {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// One step the container took (see [`super::FakeContainer::steps`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its number on the container's counter, from 0.
    pub index: u64,
    /// Its kind.
    pub kind: StepKind,
    /// The process that took it.
    pub pid: u32,
    /// What it was: the command (`put`), the system call and path (`rename /app/x`), the
    /// program launched.
    pub what: String,
}

/// What happens when a fault fires (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The command, system call or launch fails.
    Fail,
    /// The process dies without cleaning up.
    Kill,
    /// The stream drops; the process finishes its command and cleans up.
    Drop,
    /// The process stops answering.
    Hang,
    /// The reply is cut after this many bytes, then the stream drops.
    Truncate(usize),
}

/// Which processes a fault ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The process whose step it is.
    #[default]
    Process,
    /// Every process of the container.
    Container,
}

/// A fault armed on a container: fires once, at the `at`-th step (from 0, counted from
/// when it was armed) among the step kinds it counts.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Which matching step fires it.
    pub at: u64,
    /// What happens.
    pub action: FaultAction,
    /// Which processes it ends.
    pub scope: Scope,
    /// A pod replacement or container restart made when it fires.
    pub then: Option<Replacement>,
    kinds: u8,
}

impl Fault {
    /// A fault at the `at`-th step of any kind; by default it kills the process.
    pub fn at(at: u64) -> Fault {
        Fault {
            at,
            action: FaultAction::Kill,
            scope: Scope::Process,
            then: None,
            kinds: 0xff,
        }
    }

    /// Counts only steps of these kinds ("the 3rd command" is
    /// `Fault::at(2).counting(&[StepKind::Header])`).
    pub fn counting(mut self, kinds: &[StepKind]) -> Fault {
        self.kinds = kinds.iter().fold(0, |a, k| a | k.bit());
        self
    }

    /// Sets the action.
    pub fn action(mut self, action: FaultAction) -> Fault {
        self.action = action;
        if let FaultAction::Truncate(_) = action {
            self.kinds = StepKind::Reply.bit();
        }
        self
    }

    /// [`FaultAction::Fail`].
    pub fn fail(self) -> Fault {
        self.action(FaultAction::Fail)
    }

    /// [`FaultAction::Kill`].
    pub fn kill(self) -> Fault {
        self.action(FaultAction::Kill)
    }

    /// [`FaultAction::Drop`].
    pub fn drop_stream(self) -> Fault {
        self.action(FaultAction::Drop)
    }

    /// [`FaultAction::Hang`].
    pub fn hang(self) -> Fault {
        self.action(FaultAction::Hang)
    }

    /// [`FaultAction::Truncate`] (counts replies only).
    pub fn truncate(self, bytes: usize) -> Fault {
        self.action(FaultAction::Truncate(bytes))
    }

    /// Ends every process of the container ([`Scope::Container`]).
    pub fn whole_container(mut self) -> Fault {
        self.scope = Scope::Container;
        self
    }

    /// Replaces the pod or restarts the container when firing (implies
    /// [`Scope::Container`]: the old processes are gone with it).
    pub fn then(mut self, r: Replacement) -> Fault {
        self.then = Some(r);
        self.scope = Scope::Container;
        self
    }

    pub(crate) fn counts(&self, kind: StepKind) -> bool {
        self.kinds & kind.bit() != 0
    }
}

/// A fault that fired, and where.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The fault.
    pub fault: Fault,
    /// The step it fired at.
    pub step: Step,
}

/// The fault bookkeeping of one container.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Vec<(Fault, u64)>,
    pub total: u64,
    pub fired: Vec<Fired>,
    pub log: Vec<Step>,
}

impl Faults {
    pub fn arm(&mut self, f: Fault) {
        self.armed.push((f, 0));
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Counts a step; returns the fault that fires at it, if any.
    pub fn step(&mut self, kind: StepKind, pid: u32, what: String) -> Option<Fault> {
        let step = Step {
            index: self.total,
            kind,
            pid,
            what,
        };
        self.total += 1;
        let mut hit = None;
        for (i, (f, seen)) in self.armed.iter_mut().enumerate() {
            if !f.counts(kind) {
                continue;
            }
            if *seen == f.at && hit.is_none() {
                hit = Some(i);
            }
            *seen += 1;
        }
        let fired = hit.map(|i| self.armed.remove(i).0);
        if let Some(f) = &fired {
            self.fired.push(Fired {
                fault: f.clone(),
                step: step.clone(),
            });
        }
        self.log.push(step);
        fired
    }
}
