// SPDX-License-Identifier: GPL-2.0

//! The debugfs files, with `file_operations` that name this module as
//! their owner.
//!
//! The kernel crate's debugfs files (7.3, `rust/kernel/debugfs/file_ops.rs`)
//! leave `file_operations.owner` NULL: an open file does not pin the
//! module, `rmmod` succeeds, and the file's later `release` reads the
//! freed module's `file_operations` (`full_proxy_release`) and oopses.
//! Here every file's operations carry `.owner = THIS_MODULE`, so debugfs
//! takes a module reference on open and `rmmod` refuses (`EBUSY`) while any
//! file is open; during unload, an open gets `ENXIO`. The kernel-crate fix
//! is `Documentation/vmlayout/patches/`.

use core::ffi::{c_int, c_void};
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{
    bindings, prelude::*, seq_file::SeqFile, seq_print, str::CStr, uaccess::UserSlice,
    ModuleMetadata,
};

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

/// The owner every file's operations name.
const OWNER: *mut bindings::module = <crate::Vmlayout as ModuleMetadata>::THIS_MODULE.as_ptr();

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

/// A warning on a refused write, rate-limited as `pr_warn_ratelimited()`
/// is by default: at most 10 in any 5 seconds.
fn refuse(name: &CStr, usage: &str) -> isize {
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
    EINVAL.to_errno() as isize
}

/// The write handler: exactly one of the file's words, optionally followed
/// by one newline, written at offset 0 in one `write()`.
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
    // SAFETY: the VFS passes a valid position.
    if unsafe { *pos } != 0 {
        return refuse(T::NAME, "positional writes are refused: write at offset 0");
    }
    let mut word = [0u8; 16];
    if count == 0 || count > word.len() {
        return refuse(T::NAME, T::USAGE);
    }
    let mut reader = UserSlice::new(
        kernel::uaccess::UserPtr::from_ptr(buf as *mut c_void),
        count,
    )
    .reader();
    if let Err(e) = reader.read_slice(&mut word[..count]) {
        return e.to_errno() as isize;
    }
    let word = match &word[..count] {
        [w @ .., b'\n'] => w,
        w => w,
    };
    // SAFETY: `simple_open` stored the inode's private data, the `State`,
    // which outlives the file's operations (see `show`).
    let state = unsafe { &*(*file).private_data.cast::<State>() };
    match T::run(state, word) {
        None => refuse(T::NAME, T::USAGE),
        Some(Ok(())) => count as isize,
        Some(Err(e)) => e.to_errno() as isize,
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

/// `/sys/kernel/debug/vmlayout/`, removed (files and all) on drop.
pub(crate) struct Dir {
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
    pub(crate) fn new(name: &CStr, state: &State) -> Result<Self> {
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

    fn create(&self, name: &CStr, mode: u16, ops: &'static bindings::file_operations) -> Result {
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
    pub(crate) fn show<T: ShowFile>(&self) -> Result {
        self.create(T::NAME, 0o400, &ShowOps::<T>::OPS)
    }

    /// Add a command file (0200).
    pub(crate) fn command<T: CommandFile>(&self) -> Result {
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
