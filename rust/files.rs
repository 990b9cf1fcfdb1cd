// SPDX-License-Identifier: GPL-2.0

//! The debugfs files: one list of report and command files, created by one
//! of two backends.
//!
//! In tree, through the kernel crate's scoped debugfs (`Scope::dir`, as
//! `samples/rust/rust_debugfs_scoped.rs` does), which since patch 0001 of
//! the series (`Documentation/vmlayout/patches/`) names this module as every
//! file's owner.
//!
//! Out of tree, on a kernel without that patch (stock 7.3), the kernel
//! crate's debugfs leaves `file_operations.owner` NULL: an open file does
//! not pin the module, `rmmod` succeeds, and the file's later `release`
//! reads the freed module's `file_operations` (`full_proxy_release`) and
//! oopses. There the files use `file_operations` of their own with `.owner
//! = THIS_MODULE`.
//!
//! Either way debugfs takes a module reference on open: `rmmod` refuses
//! (`EBUSY`) while any file is open, and an open during unload gets `ENXIO`.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{prelude::*, str::CStr};

use crate::State;

/// A file whose content is a report on the state.
pub(crate) trait ShowFile {
    /// The file's name.
    const NAME: &'static CStr;
    /// Write the whole report.
    fn show(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A file that takes one command word.
pub(crate) trait CommandFile {
    /// The file's name.
    const NAME: &'static CStr;
    /// What the file takes, for the warning on anything else.
    const USAGE: &'static str;
    /// Run `word` (already stripped of one trailing newline); `None` if it
    /// is not one of the file's words.
    fn run(state: &State, word: &[u8]) -> Option<Result>;
}

/// A file whose content is binary, read at any offset.
pub(crate) trait BlobFile {
    /// The file's name.
    const NAME: &'static CStr;
    /// Write the content from `offset` into `writer`, advancing `offset`;
    /// the bytes written (0 at the end).
    fn read(
        state: &State,
        writer: &mut kernel::uaccess::UserSliceWriter,
        offset: &mut i64,
    ) -> Result<usize>;
}

/// The directory's files, in the order they are created.
macro_rules! for_each_file {
    ($show:ident, $blob:ident, $command:ident) => {{
        use crate::{
            Bench, Findings, Layout, Map, Rescan, Selftest, Stats, Summary, Tables, Watch,
        };
        $show!(Summary);
        $show!(Layout);
        $show!(Map);
        $show!(Findings);
        $show!(Stats);
        $blob!(Tables);
        $command!(Rescan);
        $command!(Watch);
        $command!(Selftest);
        $command!(Bench);
    }};
}
// By path, for the out-of-tree backend in `crate::compat`.
#[cfg(vmlayout_external)]
pub(crate) use for_each_file;

/// A warning on a refused write, rate-limited as `pr_warn_ratelimited()`
/// is by default: at most 10 in any 5 seconds.
fn refuse(name: &CStr, usage: &str) -> Error {
    const INTERVAL_NS: u64 = 5_000_000_000;
    const BURST: u64 = 10;
    static WINDOW: AtomicU64 = AtomicU64::new(0);
    static PRINTED: AtomicU64 = AtomicU64::new(0);
    let now = crate::helpers::now();
    let start = WINDOW.load(Ordering::Relaxed);
    if start == 0 || now.wrapping_sub(start) > INTERVAL_NS {
        if WINDOW
            .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            PRINTED.store(0, Ordering::Relaxed);
        }
    }
    if PRINTED.fetch_add(1, Ordering::Relaxed) < BURST {
        pr_warn!("{}: {}\n", name.to_str().unwrap_or("?"), usage);
    }
    EINVAL
}

/// A command write: exactly one of the file's words, optionally followed
/// by one newline, written at offset 0 in one `write()`. Returns the bytes
/// taken (all of them).
pub(crate) fn command<T: CommandFile>(
    state: &State,
    offset: i64,
    reader: &mut kernel::uaccess::UserSliceReader,
) -> Result<usize> {
    if offset != 0 {
        return Err(refuse(
            T::NAME,
            "positional writes are refused: write at offset 0",
        ));
    }
    let count = reader.len();
    let mut word = [0u8; 16];
    if count == 0 || count > word.len() {
        return Err(refuse(T::NAME, T::USAGE));
    }
    reader.read_slice(&mut word[..count])?;
    let word = match &word[..count] {
        [w @ .., b'\n'] => w,
        w => w,
    };
    match T::run(state, word) {
        None => Err(refuse(T::NAME, T::USAGE)),
        Some(result) => result.map(|()| count),
    }
}

#[cfg(not(vmlayout_external))]
mod scoped {
    //! The in-tree backend: the kernel crate's scoped debugfs.

    use core::marker::PhantomData;

    use kernel::{
        debugfs::{BinaryReader, BinaryWriter, Scope, ScopedDir},
        fs::file,
        prelude::*,
        sync::Arc,
        uaccess::{UserSliceReader, UserSliceWriter},
    };

    use super::{BlobFile, CommandFile, ShowFile};
    use crate::{LocalModule, State};

    /// `/sys/kernel/debug/vmlayout/`, removed (files and all) on drop,
    /// before the state it holds.
    pub(crate) type Files = Scope<Arc<State>>;

    /// The state as the debugfs data of file `F`: the kernel crate picks
    /// a file's operations by its data's type. Its binary write, which a
    /// command file takes, passes the write's offset (a command refuses
    /// any but 0); its binary read, which a blob file takes, reads at any.
    #[repr(transparent)]
    struct As<F>(State, PhantomData<F>);

    impl<F> As<F> {
        fn of(state: &State) -> &Self {
            // SAFETY: `As<F>` is `repr(transparent)` over `State` (the
            // `PhantomData` is zero-sized), so the layouts are the same.
            unsafe { &*core::ptr::from_ref(state).cast::<Self>() }
        }
    }

    impl<B: BlobFile> BinaryWriter for As<B> {
        fn write_to_slice(
            &self,
            writer: &mut UserSliceWriter,
            offset: &mut file::Offset,
        ) -> Result<usize> {
            B::read(&self.0, writer, offset)
        }
    }

    impl<C: CommandFile> BinaryReader for As<C> {
        fn read_from_slice(
            &self,
            reader: &mut UserSliceReader,
            offset: &mut file::Offset,
        ) -> Result<usize> {
            super::command::<C>(&self.0, *offset, reader)
        }
    }

    fn show<'data, T: ShowFile + 'static>(
        dir: &ScopedDir<'data, '_, LocalModule>,
        state: &'data State,
    ) {
        dir.read_callback_file(T::NAME, state, &T::show);
    }

    fn command<'data, C: CommandFile + Send + Sync + 'static>(
        dir: &ScopedDir<'data, '_, LocalModule>,
        state: &'data State,
    ) {
        dir.write_binary_file(C::NAME, As::<C>::of(state));
    }

    fn blob<'data, B: BlobFile + Send + Sync + 'static>(
        dir: &ScopedDir<'data, '_, LocalModule>,
        state: &'data State,
    ) {
        dir.read_binary_file(B::NAME, As::<B>::of(state));
    }

    pub(crate) fn create(state: Arc<State>) -> impl PinInit<Files, Error> {
        let data = Ok::<_, Error>(state);
        Scope::dir::<LocalModule, Error, _, _>(data, c"vmlayout", |state, dir| {
            let state: &State = state;
            macro_rules! show_file {
                ($t:ident) => {
                    show::<$t>(dir, state)
                };
            }
            macro_rules! blob_file {
                ($t:ident) => {
                    blob::<$t>(dir, state)
                };
            }
            macro_rules! command_file {
                ($t:ident) => {
                    command::<$t>(dir, state)
                };
            }
            for_each_file!(show_file, blob_file, command_file);
        })
    }
}

#[cfg(not(vmlayout_external))]
pub(crate) use scoped::{create, Files};

#[cfg(vmlayout_external)]
pub(crate) use crate::compat::debugfs::{create, Files};
