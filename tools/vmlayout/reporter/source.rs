// SPDX-License-Identifier: GPL-2.0

//! Where the records come from: the module's debugfs directory, or a
//! snapshot file holding every one of its files plus what the kernel was
//! (release, command line, time, the config options KASLR depends on).
//!
//! A snapshot is text, one section per file, each with its line count, and
//! an `end` record, so a truncated copy is an error, never a short report:
//!
//! ```text
//! # vmlayout snapshot=1
//! meta release=7.3.4 cmdline="console=ttyS0 ..." time=2026-11-28T12:00:00Z ...
//! config name=CONFIG_RANDOMIZE_MEMORY value=y
//! file name=summary lines=14
//! # vmlayout format=2 file=summary
//! ...
//! end files=5
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use vmlayout_core::record_parse;

/// The record format this tool reads (Documentation/vmlayout/format.rst).
pub const FORMAT: u32 = 2;
/// The snapshot container's version.
pub const SNAPSHOT_VERSION: u32 = 1;
/// The module's readable files, in the order a snapshot holds them.
pub const FILES: [&str; 5] = ["summary", "layout", "map", "findings", "stats"];
/// Where the module's files are.
pub const DEBUGFS_DIR: &str = "/sys/kernel/debug/vmlayout";
/// Config options a snapshot keeps: what KASLR's windows depend on, and
/// what changes what vmlayout walks.
pub const CONFIG_KEPT: [&str; 14] = [
    "CONFIG_RELOCATABLE",
    "CONFIG_RANDOMIZE_BASE",
    "CONFIG_RANDOMIZE_MEMORY",
    "CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING",
    "CONFIG_PHYSICAL_START",
    "CONFIG_PHYSICAL_ALIGN",
    "CONFIG_KASAN",
    "CONFIG_ZONE_DEVICE",
    "CONFIG_MEMORY_HOTPLUG",
    "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION",
    "CONFIG_DEBUG_PAGEALLOC",
    "CONFIG_EFI",
    "CONFIG_X86_VMLAYOUT",
    "CONFIG_PGTABLE_LEVELS",
];

/// An error naming the file (and line, when there is one) it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub origin: String,
    pub line: usize,
    pub msg: String,
}

impl Error {
    pub fn new(origin: &str, line: usize, msg: impl Into<String>) -> Self {
        Error {
            origin: origin.to_string(),
            line,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.origin, self.line, self.msg)
        } else {
            write!(f, "{}: {}", self.origin, self.msg)
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// One record: its type, its fields with escapes resolved, and the line it
/// was read from (1-based, in the file or snapshot it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub fields: Vec<(String, String)>,
    pub line: usize,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parse one record line strictly: every field must be `key=value`.
pub fn parse_record(origin: &str, line_no: usize, line: &str) -> Result<Option<Record>> {
    let Some((kind, mut fields)) = record_parse::parse(line) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (key, raw) in fields.by_ref() {
        if key.is_empty() || key.contains(' ') {
            let bad = key.split(' ').next().unwrap_or(key);
            return Err(Error::new(
                origin,
                line_no,
                format!("malformed record: '{bad}' is not key=value"),
            ));
        }
        out.push((key.to_string(), record_parse::unescape(raw).collect()));
    }
    if !fields.rest().is_empty() {
        return Err(Error::new(
            origin,
            line_no,
            format!(
                "malformed record: '{}' is not key=value",
                fields.rest().chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok(Some(Record {
        kind: kind.to_string(),
        fields: out,
        line: line_no,
    }))
}

/// One of the module's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFile {
    pub name: String,
    /// Where it was read from, for errors: a path, or `snapshot:file`.
    pub origin: String,
    /// Its text as read (header included).
    pub text: String,
    pub records: Vec<Record>,
}

impl VmFile {
    /// Parse a file's text. `first_line` is the line number of its header
    /// in `origin` (1 for a file of its own).
    pub fn parse(name: &str, origin: &str, text: &str, first_line: usize) -> Result<Self> {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let expected = format!("# vmlayout format={FORMAT} file={name}");
        if header != expected {
            let msg = match header
                .strip_prefix("# vmlayout format=")
                .and_then(|r| r.split_once(' '))
            {
                Some((version, _)) if version != FORMAT.to_string() => format!(
                    "record format {version} is not known: this vmlayout reads format {FORMAT}"
                ),
                Some((_, file)) => {
                    format!(
                        "this is the '{}' file, not '{name}'",
                        file.trim_start_matches("file=")
                    )
                }
                None => format!("not a vmlayout file: the first line should be '{expected}'"),
            };
            return Err(Error::new(origin, first_line, msg));
        }
        let mut records = Vec::new();
        for (i, line) in lines.enumerate() {
            if let Some(rec) = parse_record(origin, first_line + 1 + i, line)? {
                records.push(rec);
            }
        }
        Ok(VmFile {
            name: name.to_string(),
            origin: origin.to_string(),
            text: text.to_string(),
            records,
        })
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.kind == kind)
    }

    /// A field that must be there.
    pub fn field<'a>(&self, rec: &'a Record, key: &str) -> Result<&'a str> {
        rec.get(key).ok_or_else(|| {
            Error::new(
                &self.origin,
                rec.line,
                format!("'{}' record without '{key}='", rec.kind),
            )
        })
    }

    /// A `0x` + hex field.
    pub fn hex(&self, rec: &Record, key: &str) -> Result<u64> {
        let v = self.field(rec, key)?;
        parse_hex(v).ok_or_else(|| {
            Error::new(
                &self.origin,
                rec.line,
                format!("{key}='{v}' is not a 0x-prefixed hex value"),
            )
        })
    }

    /// A hex field that may be `-`.
    pub fn opt_hex(&self, rec: &Record, key: &str) -> Result<Option<u64>> {
        match self.field(rec, key)? {
            "-" => Ok(None),
            _ => self.hex(rec, key).map(Some),
        }
    }

    /// A decimal field (signed).
    pub fn num(&self, rec: &Record, key: &str) -> Result<i128> {
        let v = self.field(rec, key)?;
        v.parse().map_err(|_| {
            Error::new(
                &self.origin,
                rec.line,
                format!("{key}='{v}' is not a decimal number"),
            )
        })
    }

    /// A decimal field that may be `-` or missing.
    pub fn opt_num(&self, rec: &Record, key: &str) -> Result<Option<i128>> {
        match rec.get(key) {
            None | Some("-") => Ok(None),
            Some(_) => self.num(rec, key).map(Some),
        }
    }
}

pub fn parse_hex(v: &str) -> Option<u64> {
    let digits = v.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Every file of one kernel's vmlayout, and what the kernel was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The directory or snapshot file it was read from.
    pub origin: String,
    /// `release`, `cmdline`, `time`, `source`, `image_text`, `image_end`.
    pub meta: BTreeMap<String, String>,
    /// The options of `CONFIG_KEPT` the kernel has (`/proc/config.gz`).
    pub config: BTreeMap<String, String>,
    pub files: BTreeMap<String, VmFile>,
}

impl Snapshot {
    pub fn file(&self, name: &str) -> Result<&VmFile> {
        self.files
            .get(name)
            .ok_or_else(|| Error::new(&self.origin, 0, format!("has no '{name}' file")))
    }

    /// Read a debugfs directory (or a copy of one) or a snapshot file.
    pub fn load(path: &Path) -> Result<Self> {
        let origin = path.display().to_string();
        if path.is_dir() {
            return Self::from_dir(path);
        }
        let text =
            std::fs::read(path).map_err(|e| Error::new(&origin, 0, format!("cannot read: {e}")))?;
        let text = String::from_utf8(text)
            .map_err(|_| Error::new(&origin, 0, "not a vmlayout snapshot: not UTF-8 text"))?;
        Self::parse(&origin, &text)
    }

    /// Read the module's files from a directory (the live one by default),
    /// and the kernel's release, command line, config and image bounds when
    /// it is the live one.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let origin = dir.display().to_string();
        let mut files = BTreeMap::new();
        for name in FILES {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::new(
                    &path.display().to_string(),
                    0,
                    format!("cannot read: {e} (is vmlayout loaded, and debugfs mounted?)"),
                )
            })?;
            let file = VmFile::parse(name, &path.display().to_string(), &text, 1)?;
            files.insert(name.to_string(), file);
        }
        let mut meta = BTreeMap::new();
        let mut config = BTreeMap::new();
        meta.insert("source".to_string(), origin.clone());
        meta.insert("time".to_string(), utc_now());
        if dir == Path::new(DEBUGFS_DIR) {
            live_meta(&mut meta, &mut config);
        }
        Ok(Snapshot {
            origin,
            meta,
            config,
            files,
        })
    }

    /// Parse a snapshot's text.
    pub fn parse(origin: &str, text: &str) -> Result<Self> {
        let lines: Vec<&str> = text.lines().collect();
        let first = lines.first().copied().unwrap_or("");
        check_snapshot_header(origin, first)?;
        let mut meta = BTreeMap::new();
        let mut config = BTreeMap::new();
        let mut files = BTreeMap::new();
        let mut i = 1;
        let mut ended = false;
        while i < lines.len() {
            let line_no = i + 1;
            let Some(rec) = parse_record(origin, line_no, lines[i])? else {
                i += 1;
                continue;
            };
            i += 1;
            match rec.kind.as_str() {
                "meta" => meta.extend(rec.fields),
                "config" => {
                    let (Some(name), Some(value)) = (rec.get("name"), rec.get("value")) else {
                        return Err(Error::new(
                            origin,
                            line_no,
                            "config record needs name= and value=",
                        ));
                    };
                    config.insert(name.to_string(), value.to_string());
                }
                "file" => {
                    let (name, file, count) = file_of(&rec, origin, (&lines, i), line_no)?;
                    files.insert(name, file);
                    i += count;
                }
                "end" => {
                    ended = true;
                    break;
                }
                other => {
                    return Err(Error::new(
                        origin,
                        line_no,
                        format!("unknown record '{other}'"),
                    ))
                }
            }
        }
        if !ended {
            return Err(Error::new(
                origin,
                lines.len(),
                "truncated: no 'end' record (the snapshot was cut short)",
            ));
        }
        for name in FILES {
            if !files.contains_key(name) {
                return Err(Error::new(
                    origin,
                    0,
                    format!("the snapshot has no '{name}' file"),
                ));
            }
        }
        Ok(Snapshot {
            origin: origin.to_string(),
            meta,
            config,
            files,
        })
    }

    /// The snapshot's text (what `parse` reads back).
    pub fn to_text(&self) -> String {
        use vmlayout_core::record::Record as Writer;
        let mut out = format!("# vmlayout snapshot={SNAPSHOT_VERSION}\n");
        let write = |out: &mut String, kind: &str, fields: &[(&str, &str)]| {
            let mut rec = Writer::new(out, kind).expect("String never fails");
            for (k, v) in fields {
                rec = rec.text(k, v).expect("String never fails");
            }
            rec.end().expect("String never fails");
        };
        let meta: Vec<(&str, &str)> = self
            .meta
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        write(&mut out, "meta", &meta);
        for (name, value) in &self.config {
            write(&mut out, "config", &[("name", name), ("value", value)]);
        }
        for name in FILES {
            let Some(file) = self.files.get(name) else {
                continue;
            };
            let count = file.text.lines().count().to_string();
            write(&mut out, "file", &[("name", name), ("lines", &count)]);
            for line in file.text.lines() {
                out.push_str(line);
                out.push('\n');
            }
        }
        let n = self.files.len().to_string();
        write(&mut out, "end", &[("files", &n)]);
        out
    }
}

/// The first line of a snapshot must name the version this reads.
fn check_snapshot_header(origin: &str, first: &str) -> Result<()> {
    let expected = format!("# vmlayout snapshot={SNAPSHOT_VERSION}");
    if first != expected {
        let msg = if let Some(v) = first.strip_prefix("# vmlayout snapshot=") {
            format!(
                "snapshot version {v} is not known: this vmlayout reads version {SNAPSHOT_VERSION}"
            )
        } else if first.starts_with("# vmlayout format=") {
            "this is one vmlayout file, not a snapshot: give the directory that holds all of them, or a file made by 'vmlayout snapshot'".to_string()
        } else {
            format!("not a vmlayout snapshot: the first line should be '{expected}'")
        };
        return Err(Error::new(origin, 1, msg));
    }
    Ok(())
}

/// The file a `file` record at line `line_no` opens: its name, the file
/// parsed from the `lines=` lines after the record (from index `i` of
/// `lines`), and how many lines it took.
fn file_of(
    rec: &Record,
    origin: &str,
    (lines, i): (&[&str], usize),
    line_no: usize,
) -> Result<(String, VmFile, usize)> {
    let name = rec.get("name").unwrap_or("");
    if !FILES.contains(&name) {
        return Err(Error::new(
            origin,
            line_no,
            format!("unknown file '{name}'"),
        ));
    }
    let count: usize = rec
        .get("lines")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::new(origin, line_no, "file record needs lines=N"))?;
    if i + count > lines.len() {
        return Err(Error::new(
            origin,
            line_no,
            format!(
                "truncated: file '{name}' should have {count} lines, the snapshot ends after {}",
                lines.len() - i
            ),
        ));
    }
    let mut body = lines[i..i + count].join("\n");
    body.push('\n');
    let file = VmFile::parse(name, origin, &body, i + 1)?;
    Ok((name.to_string(), file, count))
}

/// What the running kernel is: release, command line, the kept config
/// options, the kernel image's bounds (KASLR's text window depends on its
/// size).
fn live_meta(meta: &mut BTreeMap<String, String>, config: &mut BTreeMap<String, String>) {
    if let Ok(r) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        meta.insert("release".into(), r.trim().into());
    }
    if let Ok(c) = std::fs::read_to_string("/proc/cmdline") {
        meta.insert("cmdline".into(), c.trim().into());
    }
    if let Some(kept) = running_config() {
        *config = kept;
        meta.insert("config".into(), "/proc/config.gz".into());
    }
    // /proc/kallsyms shows addresses to root unless kptr_restrict=2.
    if let Ok(syms) = std::fs::read_to_string("/proc/kallsyms") {
        for line in syms.lines() {
            let mut it = line.split_whitespace();
            let (Some(addr), Some(_), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let key = match name {
                "_text" => "image_text",
                "_end" => "image_end",
                _ => continue,
            };
            if addr.trim_start_matches('0').is_empty() {
                continue;
            }
            meta.insert(key.into(), format!("0x{addr}"));
        }
    }
}

/// The options of [`CONFIG_KEPT`] the running kernel has, if it shows its
/// config (`/proc/config.gz`).
pub fn running_config() -> Option<BTreeMap<String, String>> {
    let file = std::fs::File::open("/proc/config.gz").ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .ok()?;
    let mut config = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if CONFIG_KEPT.contains(&k) {
                config.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        }
    }
    Some(config)
}

/// The time now as ISO 8601 UTC, without a date library.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_from_unix(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days).
pub fn utc_from_unix(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
