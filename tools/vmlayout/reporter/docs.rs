// SPDX-License-Identifier: GPL-2.0

//! The documented maps `vmlayout check` holds a kernel against: every
//! revision of `mm.rst` the project keeps, embedded when the tool is built
//! and parsed by the module's own parser (`vmlayout_core::mm_doc`), named
//! as the module names them so that snapshots of both compare.

use vmlayout_core::map::{DocMap, DocRegion, Paging};
use vmlayout_core::mm_doc::parse_document;

/// One revision: the module's name for it, its label, the first release
/// it describes, its text.
struct Revision {
    name: &'static str,
    label: &'static str,
    since: (u32, u32),
    text: &'static str,
}

/// Newest first. 7.3's text is used from 6.13 on: 6.12's is the last the
/// project has before it (the two differ in the user half's rows: LAM's
/// non-canonical holes).
const REVISIONS: [Revision; 3] = [
    Revision {
        name: "mm.rst",
        label: "Documentation/arch/x86/x86_64/mm.rst (7.3)",
        since: (6, 13),
        text: include_str!("../testdata/mm-7.3.rst"),
    },
    Revision {
        name: "mm.rst-6.12",
        label: "Documentation/arch/x86/x86_64/mm.rst (6.12)",
        since: (4, 15),
        text: include_str!("../testdata/mm-6.12.rst"),
    },
    Revision {
        name: "mm.txt-4.x",
        label: "mm.txt (Linux 4.x, before the LDT remap)",
        since: (0, 0),
        text: include_str!("../../../Documentation/vmlayout/mm-historical.txt"),
    },
];

/// Every documented table, newest revision first, with the release its
/// revision starts at.
pub struct Docs {
    maps: Vec<(DocMap<'static>, (u32, u32))>,
}

impl Docs {
    /// Parse the embedded revisions.
    pub fn load() -> Result<Docs, String> {
        let mut maps = Vec::new();
        for rev in &REVISIONS {
            let mut tables: Vec<(Paging, Vec<DocRegion<'static>>)> = Vec::new();
            parse_document(rev.text, |paging, region| match tables.last_mut() {
                Some((p, rows)) if *p == paging => rows.push(region),
                _ => tables.push((paging, vec![region])),
            })
            .map_err(|e| format!("{}:{}: {}", rev.name, e.line, e.reason))?;
            for (paging, rows) in tables {
                let levels = if paging == Paging::Five {
                    "5level"
                } else {
                    "4level"
                };
                let name: &'static str =
                    Box::leak(format!("{}-{levels}", rev.name).into_boxed_str());
                let doc = DocMap {
                    name,
                    source: rev.label,
                    paging,
                    regions: Box::leak(rows.into_boxed_slice()),
                };
                maps.push((doc, rev.since));
            }
        }
        Ok(Docs { maps })
    }

    /// The maps of `paging`, newest first.
    pub fn maps<'d>(&'d self, paging: Paging) -> impl Iterator<Item = &'d DocMap<'d>> + 'd {
        let shorter = |m: &'d (DocMap<'static>, (u32, u32))| -> &'d DocMap<'d> { &m.0 };
        self.maps
            .iter()
            .map(shorter)
            .filter(move |m| m.paging == paging)
    }

    /// The map a kernel of `release` (`None`: unknown, the newest) is
    /// judged against.
    pub fn for_release(
        &self,
        paging: Paging,
        release: Option<&str>,
    ) -> Result<&DocMap<'static>, String> {
        let version = release.and_then(major_minor).unwrap_or((u32::MAX, 0));
        self.maps
            .iter()
            .filter(|m| m.0.paging == paging && m.1 <= version)
            .map(|m| &m.0)
            .next()
            .ok_or_else(|| format!("no documented {}-level map", paging.levels()))
    }
}

/// `7.3.4+deb13-amd64` is (7, 3).
pub fn major_minor(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}
