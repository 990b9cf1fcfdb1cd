// SPDX-License-Identifier: GPL-2.0

//! The scripts that build against a kernel: `kdir-cc.sh` reads the compiler
//! from a kernel build directory's `.config`, `sign-modules.sh` signs for it.
//! Each runs here on build directories made up for the case, with a PATH
//! that holds only the compilers the case says are installed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vmlayout-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("kdir")).unwrap();
        fs::create_dir_all(dir.join("bin")).unwrap();
        // The tools the scripts run, and no compiler but the case's own.
        for tool in ["sed", "grep", "head", "cut", "cat"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists());
            std::os::unix::fs::symlink(real.unwrap(), dir.join("bin").join(tool)).unwrap();
        }
        Scratch(dir)
    }

    fn kdir(&self) -> PathBuf {
        self.0.join("kdir")
    }

    fn config(&self, lines: &[&str]) {
        fs::write(self.kdir().join(".config"), lines.join("\n") + "\n").unwrap();
    }

    /// An executable `bin/NAME` that prints VERSION_LINE for `--version`.
    fn compiler(&self, name: &str, version_line: &str) {
        let path = self.0.join("bin").join(name);
        fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// kdir-cc.sh on this KDIR, with only bin/ on PATH.
    fn kdir_cc(&self, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("/bin/bash");
        cmd.arg(script("kdir-cc.sh")).arg(self.kdir());
        cmd.env_clear();
        cmd.env("PATH", self.0.join("bin"));
        cmd.env("RUSTC", "true");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

const GCC12: &[&str] = &[
    "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\"",
    "CONFIG_CC_IS_GCC=y",
    "CONFIG_GCC_VERSION=120200",
];

#[test]
fn gcc_kernel_gets_the_gcc_it_names() {
    let s = Scratch::new("gcc");
    s.config(GCC12);
    s.compiler("gcc-12", "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0");
    let out = s.kdir_cc(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "LLVM= CC=gcc-12");
}

#[test]
fn gcc_kernel_falls_back_to_the_same_major_version() {
    let s = Scratch::new("gcc-major");
    s.config(&[
        "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0\"",
        "CONFIG_CC_IS_GCC=y",
        "CONFIG_GCC_VERSION=120200",
    ]);
    s.compiler("gcc-12", "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0");
    let out = s.kdir_cc(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "LLVM= CC=gcc-12");
}

#[test]
fn missing_gcc_names_the_debian_package() {
    let s = Scratch::new("gcc-missing");
    s.config(&[
        "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0\"",
        "CONFIG_CC_IS_GCC=y",
        "CONFIG_GCC_VERSION=140200",
    ]);
    s.compiler("gcc-12", "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0");
    let out = s.kdir_cc(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Debian package gcc-14"), "{err}");
    assert!(
        err.contains("x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"),
        "{err}"
    );
}

const CLANG19_LLD: &[&str] = &[
    "CONFIG_CC_VERSION_TEXT=\"Debian clang version 19.1.7 (3~deb12u1)\"",
    "CONFIG_CC_IS_CLANG=y",
    "CONFIG_CLANG_VERSION=190107",
    "CONFIG_LD_IS_LLD=y",
];

#[test]
fn clang_kernel_gets_its_llvm_suffix() {
    let s = Scratch::new("clang");
    s.config(CLANG19_LLD);
    s.compiler("clang-19", "Debian clang version 19.1.7 (3~deb12u1)");
    let out = s.kdir_cc(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "LLVM=-19");
}

#[test]
fn clang_kernel_linked_by_gnu_ld_gets_clang_only() {
    let s = Scratch::new("clang-bfd");
    s.config(&CLANG19_LLD[..3]);
    s.compiler("clang-19", "Debian clang version 19.1.7 (3~deb12u1)");
    let out = s.kdir_cc(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "LLVM= CC=clang-19");
}

#[test]
fn missing_clang_names_the_debian_packages() {
    let s = Scratch::new("clang-missing");
    s.config(CLANG19_LLD);
    let out = s.kdir_cc(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Debian package clang-19 lld-19 llvm-19"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_command_line_overrides_the_config() {
    let s = Scratch::new("override");
    s.config(CLANG19_LLD);
    for choice in ["LLVM=", "CC=gcc", "LLVM=1"] {
        let out = s.kdir_cc(&[("VMLAYOUT_CC", choice)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), choice);
    }
}

#[test]
fn not_a_kernel_build_is_refused() {
    let s = Scratch::new("none");
    let out = s.kdir_cc(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no .config"), "{}", stderr(&out));
    s.config(&["CONFIG_64BIT=y"]);
    let out = s.kdir_cc(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("neither GCC nor clang"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_different_rustc_is_a_warning() {
    let s = Scratch::new("rustc");
    let mut config = GCC12.to_vec();
    config.push("CONFIG_RUSTC_VERSION_TEXT=\"rustc 1.85.1 (4eb161250 2025-03-15)\"");
    s.config(&config);
    s.compiler("gcc-12", "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0");
    s.compiler("rustc", "rustc 1.95.0 (59807616e 2026-04-14)");
    let out = s.kdir_cc(&[("RUSTC", "rustc")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "LLVM= CC=gcc-12");
    assert!(stderr(&out).contains("rustc 1.85.1"), "{}", stderr(&out));
}

#[test]
fn signing_needs_the_key_only_where_signatures_are_enforced() {
    let s = Scratch::new("sign");
    let ko = s.0.join("m.ko");
    fs::write(&ko, b"module").unwrap();
    let sign = |config: &[&str]| {
        s.config(config);
        Command::new("bash")
            .arg(script("sign-modules.sh"))
            .arg(s.kdir())
            .arg(&ko)
            .output()
            .unwrap()
    };
    // No MODULE_SIG: nothing to do, the module untouched.
    let out = sign(&["CONFIG_64BIT=y"]);
    assert!(out.status.success());
    assert_eq!(fs::read(&ko).unwrap(), b"module");
    // Signing but not enforced, no key: left unsigned, said so.
    let out = sign(&[
        "CONFIG_MODULE_SIG=y",
        "CONFIG_MODULE_SIG_KEY=\"certs/signing_key.pem\"",
    ]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("left unsigned"), "{}", stderr(&out));
    // Enforced, no key: an error that says the kernel enforces signatures.
    let out = sign(&[
        "CONFIG_MODULE_SIG=y",
        "CONFIG_MODULE_SIG_FORCE=y",
        "CONFIG_MODULE_SIG_KEY=\"certs/signing_key.pem\"",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("enforces module signatures"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&ko).unwrap(), b"module");
}
