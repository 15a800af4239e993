//! Module cycles per crate: the top-level modules of each crate's `src/` (a file `src/a.rs` or a
//! folder `src/a/`; `lib.rs`, `main.rs` and `src/bin/` are not modules of their own) and an edge
//! A → B when a file of A names `crate::B` or `crate::{B, …}`, or when A's own file (`src/a.rs`
//! or `src/a/mod.rs`) names `super::B`. Line comments are ignored; test code counts. Strongly
//! connected components of more than one module (Tarjan) are the cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Prints every cycle of every crate under `root`; returns how many there are.
pub(crate) fn report(root: &Path) -> std::io::Result<usize> {
    let mut srcs = Vec::new();
    crate_srcs(root, &mut srcs)?;
    srcs.sort();
    let mut total = 0;
    for src in srcs {
        let graph = graph(&src)?;
        for comp in cycles(&graph) {
            total += 1;
            let shown = src.strip_prefix(root).unwrap_or(&src).display().to_string();
            println!("{shown}: cycle of {}: {}", comp.len(), comp.join(" "));
            for a in &comp {
                let targets: Vec<&str> = graph[a]
                    .iter()
                    .filter(|b| comp.contains(b))
                    .map(String::as_str)
                    .collect();
                println!("    {a} -> {}", targets.join(" "));
            }
        }
    }
    println!("{total} cycle(s)");
    Ok(total)
}

/// Every `src/` directory beside a `Cargo.toml` (skipping target, .git and fuzz directories).
fn crate_srcs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
        out.push(dir.join("src"));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir()
            && !matches!(name.as_ref(), "target" | ".git" | "fuzz")
            && !name.starts_with("target")
        {
            crate_srcs(&entry.path(), out)?;
        }
    }
    Ok(())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The module graph of one crate's `src/`.
fn graph(src: &Path) -> std::io::Result<Graph> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    // module → its files, and whether each file is the module's own file.
    let mut modules: BTreeMap<String, Vec<(PathBuf, bool)>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap_or(&path).with_extension("");
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let top = parts[0].clone();
        if matches!(top.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let own = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod");
        modules.entry(top).or_default().push((path, own));
    }
    let mut graph: Graph = modules
        .keys()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, files) in &modules {
        for (path, own) in files {
            let text = strip_line_comments(&std::fs::read_to_string(path)?);
            let mut named = paths_after(&text, "crate::");
            if *own {
                named.extend(paths_after(&text, "super::"));
            }
            for target in named {
                if target != *module && modules.contains_key(&target) {
                    graph.get_mut(module).expect("every module").insert(target);
                }
            }
        }
    }
    Ok(graph)
}

/// Removes `//` to the end of each line (doc comments included; like a simple regex, it does
/// not know about strings).
fn strip_line_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_lowercase() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// A lower-case identifier at the start of `s`, if any.
fn ident(s: &str) -> Option<&str> {
    if !s.starts_with(is_ident_start) {
        return None;
    }
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    Some(&s[..end])
}

/// The first path segment after every `prefix` (`crate::x` → x), and for a group
/// (`crate::{a, b::c}`) the first segment of each member.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        if let Some(name) = ident(rest) {
            out.push(name.to_owned());
        } else if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            // Members start the group or follow a comma (nested groups are not entered).
            for member in body.split(',') {
                if let Some(name) = ident(member.trim_start()) {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}

/// Strongly connected components with more than one module (Tarjan), each sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &[&str])]) -> Graph {
        edges
            .iter()
            .map(|(a, bs)| (a.to_string(), bs.iter().map(|b| b.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_cycles_and_only_cycles() {
        let graph = g(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a", "d"]),
            ("d", &[]),
            ("e", &["f"]),
            ("f", &["e"]),
        ]);
        assert_eq!(
            cycles(&graph),
            vec![vec!["a", "b", "c"], vec!["e", "f"]]
                .into_iter()
                .map(|c| c.into_iter().map(str::to_owned).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
        assert!(cycles(&g(&[("a", &["b"]), ("b", &[])])).is_empty());
    }

    #[test]
    fn reads_paths_groups_and_skips_comments() {
        let text = strip_line_comments(
            "use crate::ring::Ring;\nuse crate::{shard, store::Slot, self};\n// crate::config\nlet x = super::feed::F; // super::http",
        );
        let mut crates = paths_after(&text, "crate::");
        crates.sort();
        assert_eq!(crates, ["ring", "self", "shard", "store"]);
        assert_eq!(paths_after(&text, "super::"), ["feed"]);
    }
}
