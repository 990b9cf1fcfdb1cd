// SPDX-License-Identifier: GPL-2.0

//! Reading vmlayout records back: for tools and tests; the module only writes.

/// Split a record line into its type and an iterator over raw `(key, value)`
/// fields (quoted values keep their escapes; quotes are removed). For tools
/// and tests; the module only writes.
pub fn parse(line: &str) -> Option<(&str, Fields<'_>)> {
    if line.starts_with('#') {
        return None;
    }
    let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
    (!kind.is_empty()).then_some((kind, Fields { rest }))
}

/// Iterator over the fields of one record.
pub struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    /// What the iterator could not read as `key=value` fields: empty for a
    /// well-formed record once every field was taken.
    pub fn rest(&self) -> &'a str {
        self.rest.trim_start_matches(' ')
    }
}

/// The characters of a raw field value with its escapes (`\"`, `\\`)
/// resolved.
pub fn unescape(raw: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = raw.chars();
    core::iter::from_fn(move || match chars.next()? {
        '\\' => chars.next(),
        c => Some(c),
    })
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.trim_start_matches(' ');
        let (key, after) = rest.split_once('=')?;
        if let Some(quoted) = after.strip_prefix('"') {
            let bytes = quoted.as_bytes();
            let mut i = 0;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            let end = i.min(bytes.len());
            self.rest = quoted.get(end + 1..).unwrap_or("");
            Some((key, &quoted[..end]))
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            self.rest = &after[end..];
            Some((key, &after[..end]))
        }
    }
}
