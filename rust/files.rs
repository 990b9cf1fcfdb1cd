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

/// The directory's files, in the order they are created.
macro_rules! for_each_file {
    ($show:ident, $command:ident) => {{
        use crate::{Bench, Findings, Layout, Map, Rescan, Selftest, Stats, Summary};
        $show!(Summary);
        $show!(Layout);
        $show!(Map);
        $show!(Findings);
        $show!(Stats);
        $command!(Rescan);
        $command!(Selftest);
        $command!(Bench);
    }};
}

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
fn command<T: CommandFile>(
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
        debugfs::{BinaryReader, Scope, ScopedDir},
        fs::file,
        prelude::*,
        sync::Arc,
        uaccess::UserSliceReader,
    };

    use super::{CommandFile, ShowFile};
    use crate::{LocalModule, State};

    /// `/sys/kernel/debug/vmlayout/`, removed (files and all) on drop,
    /// before the state it holds.
    pub(crate) type Files = Scope<Arc<State>>;

    /// The state as the debugfs data of command `C`'s file: the kernel
    /// crate picks a file's operations by its data's type, and the binary
    /// write it picks passes the write's offset, which a command refuses
    /// unless it is 0.
    #[repr(transparent)]
    struct Command<C>(State, PhantomData<C>);

    impl<C> Command<C> {
        fn of(state: &State) -> &Self {
            // SAFETY: `Command<C>` is `repr(transparent)` over `State` (the
            // `PhantomData` is zero-sized), so the layouts are the same.
            unsafe { &*core::ptr::from_ref(state).cast::<Self>() }
        }
    }

    impl<C: CommandFile> BinaryReader for Command<C> {
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
        dir.write_binary_file(C::NAME, Command::<C>::of(state));
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
            macro_rules! command_file {
                ($t:ident) => {
                    command::<$t>(dir, state)
                };
            }
            for_each_file!(show_file, command_file);
        })
    }
}

#[cfg(not(vmlayout_external))]
pub(crate) use scoped::{create, Files};

#[cfg(vmlayout_external)]
pub(crate) use owned::{create, Files};

#[cfg(vmlayout_external)]
mod owned {
    //! The out-of-tree backend: `file_operations` that name this module as
    //! their owner, for kernels without the debugfs fix.

    use core::ffi::{c_int, c_void};
    use core::fmt;
    use core::marker::PhantomData;

    use kernel::{
        bindings, prelude::*, seq_file::SeqFile, seq_print, str::CStr, sync::Arc,
        uaccess::UserSlice,
    };

    use super::{CommandFile, ShowFile};
    use crate::State;

    /// The owner every file's operations name.
    const OWNER: *mut bindings::module = crate::compat::THIS_MODULE;

    struct Report<'a, T>(&'a State, PhantomData<T>);

    impl<T: ShowFile> kernel::fmt::Display for Report<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            T::show(self.0, f)
        }
    }

    /// `single_open` callback: print the report.
    ///
    /// # Safety
    ///
    /// `seq` must be a live `seq_file` whose private data is the `State` the
    /// file was created with.
    unsafe extern "C" fn show<T: ShowFile>(seq: *mut bindings::seq_file, _: *mut c_void) -> c_int {
        // SAFETY: `single_open` stored the inode's private data, the module's
        // `State`, which outlives every file (the directory is removed first,
        // and removal waits for running operations).
        let state = unsafe { &*(*seq).private.cast::<State>() };
        // SAFETY: `seq` is live for the call.
        let seq = unsafe { SeqFile::from_raw(seq) };
        seq_print!(seq, "{}", Report::<T>(state, PhantomData));
        0
    }

    /// # Safety
    ///
    /// Called by the VFS with a live inode and a file being opened.
    unsafe extern "C" fn open<T: ShowFile>(
        inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> c_int {
        // SAFETY: `inode` is live; its private data is the `State`.
        unsafe { bindings::single_open(file, Some(show::<T>), (*inode).i_private) }
    }

    /// The write handler: see [`super::command`].
    ///
    /// # Safety
    ///
    /// Called by the VFS with a file opened by `simple_open` (private data is
    /// the `State`), a user buffer of `count` bytes and a valid `pos`.
    unsafe extern "C" fn write<T: CommandFile>(
        file: *mut bindings::file,
        buf: *const kernel::ffi::c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `simple_open` stored the inode's private data, the `State`,
        // which outlives the file's operations (see `show`).
        let state = unsafe { &*(*file).private_data.cast::<State>() };
        let mut reader = UserSlice::new(
            kernel::uaccess::UserPtr::from_ptr(buf as *mut c_void),
            count,
        )
        .reader();
        // SAFETY: the VFS passes a valid position.
        let offset = unsafe { *pos };
        match super::command::<T>(state, offset, &mut reader) {
            Ok(taken) => taken as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    struct ShowOps<T>(PhantomData<T>);

    impl<T: ShowFile> ShowOps<T> {
        const OPS: bindings::file_operations = bindings::file_operations {
            owner: OWNER,
            open: Some(open::<T>),
            read: Some(bindings::seq_read),
            llseek: Some(bindings::seq_lseek),
            release: Some(bindings::single_release),
            ..pin_init::zeroed()
        };
    }

    struct CommandOps<T>(PhantomData<T>);

    impl<T: CommandFile> CommandOps<T> {
        const OPS: bindings::file_operations = bindings::file_operations {
            owner: OWNER,
            open: Some(bindings::simple_open),
            write: Some(write::<T>),
            ..pin_init::zeroed()
        };
    }

    /// `/sys/kernel/debug/vmlayout/`, removed (files and all) on drop,
    /// before the state it holds.
    pub(crate) struct Files {
        _dir: Dir,
        _state: Arc<State>,
    }

    /// The directory, with the files created in the order of `for_each_file!`.
    pub(crate) fn create(state: Arc<State>) -> Result<Files> {
        let dir = Dir::new(c"vmlayout", &state)?;
        macro_rules! show_file {
            ($t:ident) => {
                dir.show::<$t>()?
            };
        }
        macro_rules! command_file {
            ($t:ident) => {
                dir.command::<$t>()?
            };
        }
        for_each_file!(show_file, command_file);
        Ok(Files {
            _dir: dir,
            _state: state,
        })
    }

    /// The debugfs directory.
    struct Dir {
        dentry: *mut bindings::dentry,
        state: *const State,
    }

    // SAFETY: the dentry is only used to create files and to remove it, which
    // debugfs allows from any thread.
    unsafe impl Send for Dir {}
    // SAFETY: as above.
    unsafe impl Sync for Dir {}

    /// Whether a debugfs call returned an error pointer (or NULL).
    fn is_err(dentry: *mut bindings::dentry) -> bool {
        dentry.is_null() || (dentry as usize) >= (-(bindings::MAX_ERRNO as isize)) as usize
    }

    impl Dir {
        /// Create the directory; its files read and act on `state`, which must
        /// outlive it.
        fn new(name: &CStr, state: &State) -> Result<Self> {
            // SAFETY: `name` is a NUL-terminated string; NULL parent is the
            // debugfs root.
            let dentry =
                unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), core::ptr::null_mut()) };
            if is_err(dentry) {
                return Err(ENODEV);
            }
            Ok(Dir {
                dentry,
                state: core::ptr::from_ref(state),
            })
        }

        fn create(
            &self,
            name: &CStr,
            mode: u16,
            ops: &'static bindings::file_operations,
        ) -> Result {
            // SAFETY: the directory is live; `state` outlives it (caller of
            // `new`); `ops` is static and names this module as owner.
            let dentry = unsafe {
                bindings::debugfs_create_file_full(
                    name.as_char_ptr(),
                    mode,
                    self.dentry,
                    self.state.cast_mut().cast(),
                    core::ptr::null(),
                    ops,
                )
            };
            if is_err(dentry) {
                return Err(ENOMEM);
            }
            Ok(())
        }

        /// Add a report file (0400).
        fn show<T: ShowFile>(&self) -> Result {
            self.create(T::NAME, 0o400, &ShowOps::<T>::OPS)
        }

        /// Add a command file (0200).
        fn command<T: CommandFile>(&self) -> Result {
            self.create(T::NAME, 0o200, &CommandOps::<T>::OPS)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            // SAFETY: created in `new`; removal waits for running file
            // operations, and later ones fail before reaching ours.
            unsafe { bindings::debugfs_remove(self.dentry) }
        }
    }
}
