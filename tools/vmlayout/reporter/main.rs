// SPDX-License-Identifier: GPL-2.0

//! `vmlayout`: the userspace reporter of the vmlayout kernel module.
//! See `vmlayout --help` and Documentation/vmlayout/reporter.rst.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vmlayout_reporter::diff::Diff;
use vmlayout_reporter::docs::Docs;
use vmlayout_reporter::model::Layout;
use vmlayout_reporter::source::{Snapshot, DEBUGFS_DIR};
use vmlayout_reporter::{check, draw, kaslr, report};

const USAGE: &str = "\
usage: vmlayout COMMAND [options]

  report [DIR|SNAPSHOT] [--json] [--color=auto|always|never] [--all]
      one screen: paging mode, bases with their slides and windows, each
      region's verdict, findings by severity with reasons and rule counts,
      what was looked at. Exit status: 0 clean, 1 warnings (warn findings,
      regions departing from the document, a stale scan), 2 errors.
  snapshot [DIR] [-o FILE]
      every vmlayout file plus kernel release, command line, config and time
      in one file (default: standard output)
  diff A B [--json]
      what moved between two snapshots (or directories), which ranges and
      findings appeared or went away, rule by rule. Exit status 1 when B has
      a warn or error finding that A has not, else 0.
  draw [DIR|SNAPSHOT] [-o FILE.svg]
      an SVG picture of the kernel half (default: standard output)
  check [--kcore FILE | --vmcore FILE] [-o FILE] [--capture FILE]
      the module's checks without the module: walk the kernel's page tables
      in /proc/kcore (the running kernel, as root; the default) or in a
      crash dump (kdump's ELF /proc/vmcore, makedumpfile's kdump-compressed
      file, QEMU's dump-guest-memory), and
      write a snapshot of what the module would show (default: standard
      output), for report, diff, draw and kaslr. Exit status as report's.
      --capture FILE also writes the table pages the check read, with their
      physical addresses and the notes, as an ELF core file of their own
      (a fixture that checks as the whole dump did).
  pack CAPTURE OUT, unpack PACKED OUT
      a capture (check --capture, the module's tables file) packed for a
      fixture (gzip of the differences of its 64-bit words: page tables
      pack some 40 times smaller than with gzip alone), and back
  kaslr [--json] SNAPSHOT...
      KASLR statistics over many boots, per paging mode. Exit status 1 when
      a base is flagged degraded, else 0.

DIR defaults to /sys/kernel/debug/vmlayout. Bad input (a truncated or
foreign file, an unknown format) is reported with its file and line, exit
status 3; so is a usage error.
";

/// Exit status for bad input or usage.
const BAD_INPUT: u8 = 3;

struct Args {
    positional: Vec<String>,
    json: bool,
    all: bool,
    colour: Option<bool>,
    output: Option<PathBuf>,
    kcore: Option<PathBuf>,
    vmcore: Option<PathBuf>,
    capture: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        positional: Vec::new(),
        json: false,
        all: false,
        colour: None,
        output: None,
        kcore: None,
        vmcore: None,
        capture: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => a.json = true,
            "--all" => a.all = true,
            "--color=always" | "--colour=always" => a.colour = Some(true),
            "--color=never" | "--colour=never" => a.colour = Some(false),
            "--color=auto" | "--colour=auto" => a.colour = None,
            "-o" | "--output" => {
                let f = it.next().ok_or("-o needs a file name")?;
                a.output = Some(PathBuf::from(f));
            }
            "--kcore" => a.kcore = Some(PathBuf::from(it.next().ok_or("--kcore needs a file")?)),
            "--vmcore" => a.vmcore = Some(PathBuf::from(it.next().ok_or("--vmcore needs a file")?)),
            "--capture" => {
                a.capture = Some(PathBuf::from(it.next().ok_or("--capture needs a file")?))
            }
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option '{s}'")),
            s => a.positional.push(s.to_string()),
        }
    }
    Ok(a)
}

fn load(path: Option<&String>) -> Result<Snapshot, String> {
    let p = path.map_or(Path::new(DEBUGFS_DIR), |p| Path::new(p.as_str()));
    Snapshot::load(p).map_err(|e| e.to_string())
}

fn layout_of(snap: &Snapshot) -> Result<Layout, String> {
    Layout::from_snapshot(snap).map_err(|e| e.to_string())
}

fn emit(output: &Option<PathBuf>, text: &str) -> Result<(), String> {
    match output {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::write(p, text).map_err(|e| format!("{}: cannot write: {e}", p.display()))
        }
        _ => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
    }
}

fn at_most(args: &Args, n: usize, cmd: &str) -> Result<(), String> {
    if args.positional.len() > n {
        return Err(format!("{cmd}: too many arguments (see vmlayout --help)"));
    }
    Ok(())
}

fn run(argv: &[String]) -> Result<u8, String> {
    let Some(cmd) = argv.first() else {
        eprint!("{USAGE}");
        return Ok(BAD_INPUT);
    };
    let args = parse_args(&argv[1..])?;
    match cmd.as_str() {
        "report" => cmd_report(&args),
        "snapshot" => {
            at_most(&args, 1, "snapshot")?;
            let snap = load(args.positional.first())?;
            // What is written must read back.
            layout_of(&snap)?;
            emit(&args.output, &snap.to_text())?;
            Ok(0)
        }
        "diff" => cmd_diff(&args),
        "draw" => {
            at_most(&args, 1, "draw")?;
            let layout = layout_of(&load(args.positional.first())?)?;
            emit(&args.output, &draw::svg(&layout))?;
            Ok(0)
        }
        "kaslr" => cmd_kaslr(&args),
        "check" => cmd_check(&args),
        "pack" | "unpack" => cmd_pack(cmd == "pack", &args),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        "--version" => {
            println!("vmlayout {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        other => Err(format!("unknown command '{other}' (see vmlayout --help)")),
    }
}

/// `vmlayout pack IN OUT` and `vmlayout unpack IN OUT`.
fn cmd_pack(pack: bool, args: &Args) -> Result<u8, String> {
    let [input, output] = &args.positional[..] else {
        return Err("pack and unpack take an input and an output file".into());
    };
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: cannot read: {e}"))?;
    let out = if pack {
        vmlayout_reporter::pack::pack(&bytes)
    } else {
        vmlayout_reporter::pack::unpack(&bytes).map_err(|e| format!("{input}: {e}"))?
    };
    std::fs::write(output, out).map_err(|e| format!("{output}: cannot write: {e}"))?;
    Ok(0)
}

/// `vmlayout report [--json] [--all] [SNAPSHOT|DIR]`.
fn cmd_report(args: &Args) -> Result<u8, String> {
    at_most(args, 1, "report")?;
    let layout = layout_of(&load(args.positional.first())?)?;
    if args.json {
        let v = report::json(&layout);
        emit(&args.output, &format!("{v:#}\n"))?;
    } else {
        let colour = args.colour.unwrap_or_else(|| {
            args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
        });
        let max = if args.all { usize::MAX } else { 5 };
        emit(
            &args.output,
            &report::text(&layout, report::Style::new(colour), max),
        )?;
    }
    Ok(layout.exit_status() as u8)
}

/// `vmlayout diff [--json] [--all] A B`.
fn cmd_diff(args: &Args) -> Result<u8, String> {
    if args.positional.len() != 2 {
        return Err("diff: give two snapshots or directories, A and B".into());
    }
    let (a, b) = (&args.positional[0], &args.positional[1]);
    let la = layout_of(&load(Some(a))?)?;
    let lb = layout_of(&load(Some(b))?)?;
    let d = Diff::new(&la, &lb);
    if args.json {
        emit(&args.output, &format!("{:#}\n", d.json(a, b)))?;
    } else {
        emit(
            &args.output,
            &d.text(a, b, if args.all { usize::MAX } else { 10 }),
        )?;
    }
    Ok(d.exit_status() as u8)
}

/// `vmlayout check [--kcore FILE | --vmcore FILE] [-o FILE]`.
fn cmd_check(args: &Args) -> Result<u8, String> {
    at_most(args, 0, "check")?;
    let input = match (&args.kcore, &args.vmcore) {
        (Some(_), Some(_)) => return Err("check: give --kcore or --vmcore, not both".into()),
        (None, Some(dump)) => check::Input::Vmcore(dump),
        (Some(kcore), None) => check::Input::Kcore(kcore),
        (None, None) => check::Input::Kcore(Path::new("/proc/kcore")),
    };
    let docs = Docs::load()?;
    let snap = check::check_and_capture(input, &docs, args.capture.as_deref())?;
    let layout = layout_of(&snap)?;
    emit(&args.output, &snap.to_text())?;
    Ok(layout.exit_status() as u8)
}

/// `vmlayout kaslr [--json] SNAPSHOT...`.
fn cmd_kaslr(args: &Args) -> Result<u8, String> {
    if args.positional.is_empty() {
        return Err("kaslr: give the snapshots of the boots to compare".into());
    }
    let mut layouts = Vec::new();
    for p in &args.positional {
        layouts.push(layout_of(&load(Some(p))?)?);
    }
    let stats = kaslr::analyse(&layouts);
    if args.json {
        let v: Vec<_> = stats.iter().map(kaslr::Stats::json).collect();
        emit(
            &args.output,
            &format!("{:#}\n", serde_json::Value::Array(v)),
        )?;
    } else {
        let text: Vec<String> = stats.iter().map(kaslr::Stats::text).collect();
        emit(&args.output, &text.join("\n"))?;
    }
    Ok(u8::from(stats.iter().any(kaslr::Stats::degraded)))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vmlayout: {e}");
            ExitCode::from(BAD_INPUT)
        }
    }
}
