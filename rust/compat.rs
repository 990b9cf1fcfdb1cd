// SPDX-License-Identifier: GPL-2.0

// What only the out-of-tree build needs: the one file `make intree`'s
// series leaves out (in tree, `vmlayout_main.rs` has the newest API of
// the few items below, and the kernel has the rest).
//
// - The kernel crate's API across the 7.x kernels vmlayout builds against,
//   keyed on the version of the kernel built against: `Kbuild` sets
//   `vmlayout_before_7_3` for Linux 7.2 (the oldest 7.x in the archive).
// - The fault event's declarations, which in tree come from the kernel's
//   bindings ([`trace`]).
// - The debugfs files' own `file_operations`, for kernels without the
//   series' debugfs fix ([`debugfs`]).
//
// | since | what the kernel crate has |
// | --- | --- |
// | 7.3 | `bool` module parameters; `ModuleParamAccess::value()` by value |
// | 7.3 | `ModuleMetadata::THIS_MODULE`, a constant |

/// Declare the module through `$declare!(flag type, on, off)`: the type of
/// its on/off parameters. A `bool` since 7.3; before, a `u8` that is set
/// when not 0 (`scan_on_load=0` works on both).
#[cfg(not(vmlayout_before_7_3))]
macro_rules! with_flag_type {
    ($declare:ident) => {
        $declare!(bool, true, false);
    };
}

/// Declare the module (see above): 7.2's kernel crate has no `bool`
/// module parameters.
#[cfg(vmlayout_before_7_3)]
macro_rules! with_flag_type {
    ($declare:ident) => {
        $declare!(u8, 1, 0);
    };
}

/// The value of module parameter `$name` (7.3: by value).
#[cfg(not(vmlayout_before_7_3))]
macro_rules! param {
    ($name:ident) => {
        crate::module_parameters::$name.value()
    };
}

/// The value of module parameter `$name` (7.2: by reference).
#[cfg(vmlayout_before_7_3)]
macro_rules! param {
    ($name:ident) => {
        *crate::module_parameters::$name.value()
    };
}

/// Whether on/off module parameter `$name` is on.
#[cfg(not(vmlayout_before_7_3))]
macro_rules! flag {
    ($name:ident) => {
        param!($name)
    };
}

/// Whether on/off module parameter `$name` is on (7.2: a `u8`).
#[cfg(vmlayout_before_7_3)]
macro_rules! flag {
    ($name:ident) => {
        param!($name) != 0
    };
}

/// This module's `struct module`, for `file_operations.owner` (out of
/// tree only: in tree, the kernel crate's debugfs names the owner).
#[cfg(all(vmlayout_external, not(vmlayout_before_7_3)))]
pub(crate) const THIS_MODULE: *mut kernel::bindings::module =
    <crate::Vmlayout as kernel::ModuleMetadata>::THIS_MODULE.as_ptr();

/// This module's `struct module` (7.2: `module!` keeps it in a static, which
/// a constant cannot read; the address of `__this_module` is a constant).
#[cfg(all(vmlayout_external, vmlayout_before_7_3))]
pub(crate) const THIS_MODULE: *mut kernel::bindings::module = {
    // Only its address is taken: the type need not be FFI-safe.
    #[allow(improper_ctypes)]
    extern "C" {
        static __this_module: kernel::types::Opaque<kernel::bindings::module>;
    }
    // SAFETY: the kernel's module loader makes `__this_module` for every
    // module, and it lives until the module is unloaded.
    unsafe { __this_module.get() }
};

/// The fault event for the out-of-tree build: the kernel's bindings lack
/// vmlayout's header, so its struct, its `__tracepoint_*` and the
/// `rust_do_trace_*` of `vmlayout_events.c` are declared here, and the call
/// is what `declare_trace!` expands to.
pub(crate) mod trace {
    use kernel::ffi::{c_int, c_ulong};

    /// One fault as the event takes it: `struct vmlayout_sync_fault` of
    /// `include/trace/events/vmlayout.h`, field for field, for the
    /// out-of-tree build, whose bindings lack it.
    #[repr(C)]
    pub(crate) struct SyncFault {
        pub(crate) address: c_ulong,
        pub(crate) ip: c_ulong,
        pub(crate) error_code: c_ulong,
        /// The entries where the paths first differ (`level`).
        pub(crate) ref_entry: u64,
        pub(crate) cur_entry: u64,
        /// `enum vmlayout_fault_region`.
        pub(crate) region: c_int,
        pub(crate) level: c_int,
        /// `enum vmlayout_fault_class`.
        pub(crate) class: c_int,
    }

    // `struct tracepoint` holds a zero-length array, which rustc calls not
    // FFI-safe; the static is only named (its static key), never passed.
    #[allow(improper_ctypes)]
    extern "C" {
        static __tracepoint_vmalloc_sync_fault: kernel::bindings::tracepoint;
        fn rust_do_trace_vmalloc_sync_fault(fault: *const SyncFault);
    }

    /// What `declare_trace!` expands to, for the out-of-tree build.
    ///
    /// # Safety
    ///
    /// `fault` must point to a `SyncFault` for the duration of the call.
    #[inline(always)]
    pub(crate) unsafe fn vmalloc_sync_fault(fault: *const SyncFault) {
        // SAFETY: querying a tracepoint's static key is always fine.
        let enabled = unsafe {
            kernel::jump_label::static_branch_unlikely!(
                __tracepoint_vmalloc_sync_fault,
                kernel::bindings::tracepoint,
                key
            )
        };
        if enabled {
            // SAFETY: `fault` is valid (the caller's promise); the event
            // copies its fields.
            unsafe { rust_do_trace_vmalloc_sync_fault(fault) };
        }
    }
}

pub(crate) mod debugfs {
    //! The debugfs files' out-of-tree backend (`crate::files`): `file_operations` that name this module as
    //! their owner, for kernels without the debugfs fix.

    use core::ffi::{c_int, c_void};
    use core::fmt;
    use core::marker::PhantomData;

    use kernel::{
        bindings, prelude::*, seq_file::SeqFile, seq_print, str::CStr, sync::Arc,
        uaccess::UserSlice,
    };

    use crate::files::{BlobFile, CommandFile, ShowFile};
    use crate::State;

    /// The owner every file's operations name.
    const OWNER: *mut bindings::module = super::THIS_MODULE;

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

    /// The write handler: see [`crate::files::command`].
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
        match crate::files::command::<T>(state, offset, &mut reader) {
            Ok(taken) => taken as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// The read handler of a blob file: see [`BlobFile`].
    ///
    /// # Safety
    ///
    /// Called by the VFS with a file opened by `simple_open` (private data is
    /// the `State`), a user buffer of `count` bytes and a valid `pos`.
    unsafe extern "C" fn read<T: BlobFile>(
        file: *mut bindings::file,
        buf: *mut kernel::ffi::c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: as in `write`; and the VFS passes a valid position, ours
        // for the call.
        let (state, pos) = unsafe { (&*(*file).private_data.cast::<State>(), &mut *pos) };
        let mut writer =
            UserSlice::new(kernel::uaccess::UserPtr::from_ptr(buf.cast()), count).writer();
        match T::read(state, &mut writer, pos) {
            Ok(n) => n as isize,
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

    struct BlobOps<T>(PhantomData<T>);

    impl<T: BlobFile> BlobOps<T> {
        const OPS: bindings::file_operations = bindings::file_operations {
            owner: OWNER,
            open: Some(bindings::simple_open),
            read: Some(read::<T>),
            llseek: Some(bindings::default_llseek),
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
        macro_rules! blob_file {
            ($t:ident) => {
                dir.blob::<$t>()?
            };
        }
        macro_rules! command_file {
            ($t:ident) => {
                dir.command::<$t>()?
            };
        }
        crate::files::for_each_file!(show_file, blob_file, command_file);
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

        /// Add a blob file (0400).
        fn blob<T: BlobFile>(&self) -> Result {
            self.create(T::NAME, 0o400, &BlobOps::<T>::OPS)
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
