//! Every citation of the project's notes resolves on a fresh clone: each `docs/<NAME>.md` named
//! in the code, tests, claim specs, scripts and documentation exists, and each section it cites
//! (`docs/THEORY.md §4`, `§3–4`, `§4, §9`, `§11.2`, `docs/DATA.md §2`) is a heading of that
//! file. A bare `THEORY.md` or `DATA.md` (without `docs/`) names no file of the repository and
//! is reported too.
//!
//! Headings count as sections when they read `## §N. Title` or `### §N.M Title`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Folders scanned, recursively, relative to the repository root.
const TREES: [&str; 7] = ["src", "tests", "verify", "benches", "scripts", "docs", "models"];
/// This file: its parser tests cite missing sections and bare names on purpose.
const SELF: &str = "tests/citations.rs";
/// Single files scanned at the root.
const ROOT_FILES: [&str; 2] = ["README.md", "CITATION.cff"];
/// Text files worth scanning (binary weights and JSON fixtures cite nothing).
const EXTENSIONS: [&str; 6] = ["rs", "md", "toml", "py", "sh", "cff"];
/// Notes that must be cited with their `docs/` prefix.
const NOTES: [&str; 2] = ["THEORY.md", "DATA.md"];

/// A citation problem: where, and what is wrong.
#[derive(Debug, PartialEq)]
struct Problem {
    line: usize,
    message: String,
}

/// One reference to a note: the note's path as written and the sections cited (possibly none).
#[derive(Debug, PartialEq)]
struct Citation {
    line: usize,
    path: String,
    sections: Vec<String>,
}

/// Skips whitespace and the comment markers a citation may be wrapped across
/// (`//!`, `///`, `//`, `#`), returning the byte offset of the next meaningful character.
fn skip_layout(text: &str, mut i: usize) -> usize {
    loop {
        let rest = &text[i..];
        let trimmed = rest.trim_start();
        i += rest.len() - trimmed.len();
        let marker = ["//!", "///", "//", "#"].iter().find(|m| trimmed.starts_with(**m));
        match marker {
            // Only a marker at the start of a line continues a wrapped citation.
            Some(m) if line_start_is_blank(text, i) => i += m.len(),
            _ => return i,
        }
    }
}

/// True when only whitespace precedes offset `i` on its line.
fn line_start_is_blank(text: &str, i: usize) -> bool {
    let start = text[..i].rfind('\n').map_or(0, |p| p + 1);
    text[start..i].trim().is_empty()
}

/// A section number `N` or `N.M` at offset `i`: the number and the offset after it.
fn section_number(text: &str, i: usize) -> Option<(String, usize)> {
    let rest = &text[i..];
    let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if int_len == 0 {
        return None;
    }
    let after = &rest[int_len..];
    let sub_len = after
        .strip_prefix('.')
        .map_or(0, |s| s.bytes().take_while(u8::is_ascii_digit).count());
    let len = if sub_len > 0 { int_len + 1 + sub_len } else { int_len };
    Some((rest[..len].to_string(), i + len))
}

/// The sections cited right after a note's path ending at offset `i`: `§N`, then any number of
/// `–N`, `-N`, `–§N` (ranges: every integer in between is cited) and `, §N`, ` and §N`.
fn cited_sections(text: &str, i: usize) -> Vec<String> {
    let mut at = skip_layout(text, i);
    let Some(rest) = text[at..].strip_prefix('§') else {
        return Vec::new();
    };
    at = text.len() - rest.len();
    let Some((first, mut end)) = section_number(text, at) else {
        return Vec::new();
    };
    let mut out = vec![first];
    loop {
        let rest = &text[end..];
        let (range, sep_len) = if let Some(r) = rest.strip_prefix('–').or_else(|| rest.strip_prefix('-')) {
            (true, rest.len() - r.len())
        } else if let Some(r) = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(" and ")) {
            (false, rest.len() - r.len())
        } else {
            return out;
        };
        let mut next = end + sep_len;
        match text[next..].strip_prefix('§') {
            Some(r) => next = text.len() - r.len(),
            // A list continues only with `§`; a bare number after a comma is not a section.
            None if !range => return out,
            None => {}
        }
        let Some((number, after)) = section_number(text, next) else {
            return out;
        };
        let last = out.last().expect("nonempty").clone();
        if let (true, Ok(lo), Ok(hi)) = (range, last.parse::<u32>(), number.parse::<u32>()) {
            out.extend((lo + 1..hi).map(|n| n.to_string()));
        }
        out.push(number);
        end = after;
    }
}

/// Every reference to a note in `text`: `docs/NAME.md` with its sections, and bare `THEORY.md` /
/// `DATA.md` (reported as problems by [`check_text`]).
fn citations(text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    for (pos, _) in text.match_indices(".md") {
        let end = pos + 3;
        let name_start = text[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |p| p + 1);
        let name = &text[name_start..end];
        let path = if text[..name_start].ends_with("docs/") {
            format!("docs/{name}")
        } else if NOTES.contains(&name) {
            name.to_string()
        } else {
            continue;
        };
        let line = text[..pos].matches('\n').count() + 1;
        out.push(Citation {
            line,
            path,
            sections: cited_sections(text, end),
        });
    }
    out
}

/// The section numbers of a note: `N` and `N.M` from headings `#… §N. …` / `#… §N.M …`.
fn sections_of(note: &str) -> BTreeSet<String> {
    note.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.trim_start_matches('#');
            (rest.len() < l.len()).then_some(rest)?.trim_start().strip_prefix('§')
        })
        .filter_map(|rest| section_number(rest, 0).map(|(n, _)| n))
        .collect()
}

/// The problems of one file's text; `note_sections` gives the sections of `docs/NAME.md`, or
/// `None` when that file does not exist.
fn check_text(text: &str, note_sections: &dyn Fn(&str) -> Option<BTreeSet<String>>) -> Vec<Problem> {
    let mut out = Vec::new();
    for c in citations(text) {
        if !c.path.starts_with("docs/") {
            out.push(Problem {
                line: c.line,
                message: format!("bare `{}`: cite it as `docs/{}`", c.path, c.path),
            });
            continue;
        }
        let Some(sections) = note_sections(&c.path) else {
            out.push(Problem {
                line: c.line,
                message: format!("`{}` does not exist", c.path),
            });
            continue;
        };
        for s in c.sections.iter().filter(|s| !sections.contains(*s)) {
            out.push(Problem {
                line: c.line,
                message: format!("`{} §{s}`: no such section", c.path),
            });
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The scanned text files under `dir`, recursively, in sorted order.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("readable directory entry").path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            text_files(&p, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(p);
        }
    }
}

/// The sections of `docs/NAME.md` in the repository, `None` when the file is missing.
fn repository_note(path: &str) -> Option<BTreeSet<String>> {
    std::fs::read_to_string(root().join(path)).ok().map(|t| sections_of(&t))
}

#[test]
fn every_note_citation_in_the_repository_resolves() {
    let root = root();
    let mut files = Vec::new();
    TREES.iter().for_each(|t| text_files(&root.join(t), &mut files));
    files.extend(ROOT_FILES.iter().map(|f| root.join(f)).filter(|p| p.exists()));
    files.retain(|f| f != &root.join(SELF));
    let (mut problems, mut resolved) = (Vec::new(), 0);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        resolved += citations(&text).iter().map(|c| c.sections.len()).sum::<usize>();
        for p in check_text(&text, &repository_note) {
            let rel = file.strip_prefix(&root).unwrap_or(file);
            problems.push(format!("{}:{}: {}", rel.display(), p.line, p.message));
        }
    }
    assert!(
        problems.is_empty(),
        "{} unresolved citation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The code cites the notes well over a hundred times: far fewer means the scan went blind.
    assert!(
        resolved > 100,
        "only {resolved} section citations found in {} files",
        files.len()
    );
}

/// Sections of a small note, for the parser tests.
fn toy_note(path: &str) -> Option<BTreeSet<String>> {
    (path == "docs/THEORY.md").then(|| sections_of("# T\n## §1. One\n## §2. Two\n### §2.1 Sub\n## §3. Three\n"))
}

#[test]
fn headings_give_sections_and_subsections() {
    let s = sections_of("# Title\n## §1. A\ntext §9 in prose\n### §10.2 B\n## §3 C\n");
    assert_eq!(s.into_iter().collect::<Vec<_>>(), ["1", "10.2", "3"]);
}

#[test]
fn lists_ranges_and_wrapped_citations_are_parsed() {
    let secs = |t: &str| citations(t).into_iter().map(|c| c.sections).collect::<Vec<_>>();
    assert_eq!(secs("(docs/THEORY.md §4, §9)"), [["4", "9"]]);
    assert_eq!(secs("docs/THEORY.md §2–§5;"), [["2", "3", "4", "5"]]);
    assert_eq!(secs("docs/THEORY.md §3-4 and"), [["3", "4"]]);
    assert_eq!(secs("docs/THEORY.md §11.2: the"), [["11.2"]]);
    assert_eq!(secs("docs/THEORY.md §6, 1000 runs"), [["6"]]);
    assert_eq!(secs("//! see docs/THEORY.md\n//! §8: the claim"), [["8"]]);
    assert_eq!(secs("# spec (docs/THEORY.md\n# §5) end"), [["5"]]);
    assert_eq!(secs("docs/COLUMNS.md lists"), [Vec::<String>::new()]);
    assert!(citations("README.md and notes.md").is_empty());
}

#[test]
fn missing_sections_files_and_bare_names_are_reported() {
    let lines = |t: &str| {
        check_text(t, &toy_note)
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect::<Vec<_>>()
    };
    assert!(lines("ok: docs/THEORY.md §2.1 and docs/THEORY.md §1–3").is_empty());
    assert_eq!(lines("docs/THEORY.md §4")[0].1, "`docs/THEORY.md §4`: no such section");
    assert_eq!(
        lines("a\ndocs/THEORY.md §2.2")[0],
        (2, "`docs/THEORY.md §2.2`: no such section".into())
    );
    assert_eq!(lines("docs/THEORY.md §2–4").len(), 1, "the range's end 4 is missing");
    assert_eq!(
        lines("THEORY.md §1")[0].1,
        "bare `THEORY.md`: cite it as `docs/THEORY.md`"
    );
    assert_eq!(
        lines("(see `DATA.md`)")[0].1,
        "bare `DATA.md`: cite it as `docs/DATA.md`"
    );
    assert_eq!(
        lines("../shared/THEORY.md §1")[0].1,
        "bare `THEORY.md`: cite it as `docs/THEORY.md`"
    );
    assert_eq!(lines("docs/DATA.md §1")[0].1, "`docs/DATA.md` does not exist");
}
