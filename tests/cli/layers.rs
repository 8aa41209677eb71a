//! The layers of docs/architecture.md, enforced: the deterministic core imports no I/O, no
//! runtime and no driver, target, output or command module; no module imports a higher
//! layer; and no two modules (top-level, or siblings inside one directory module) import each
//! other, directly or through others. Reads the source text, so it needs no build tricks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module: a module may import its own layer and those below.
const LAYERS: &[(&str, u8)] = &[
    // Core: the deterministic parts, and the vocabulary they share.
    ("protocol", 0),
    ("rng", 0),
    ("dist", 0),
    ("hop", 0),
    ("human", 0),
    ("user_set", 0),
    ("verdict", 0),
    ("scenario", 0),
    ("model", 0),
    ("history", 0),
    ("faults", 0),
    ("workload", 0),
    ("check", 0),
    ("metrics", 0),
    ("driver", 0),
    // Targets: what a run drives.
    ("target", 1),
    ("wire", 1),
    ("server", 1),
    ("matrix", 1),
    // Drivers: the simulator and the live scheduler, and what runs beside them.
    ("sim", 2),
    ("pipe", 2),
    ("progress", 2),
    ("observers", 2),
    ("live", 2),
    // Output.
    ("slo", 3),
    ("report", 3),
    // Commands.
    ("cmd", 4),
];

/// Core modules that may read files (scenario files are input).
const CORE_IO_ALLOWED: &[&str] = &["scenario"];

/// What the deterministic core must not touch: runtimes, threads, clocks' I/O neighbours.
const CORE_FORBIDDEN: &[&str] = &[
    "tokio",
    "std::fs",
    "std::net",
    "std::thread",
    "std::process",
    "axum",
    "reqwest",
    "rusqlite",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's code without comments and without its `#[cfg(test)]` tail (tests may use
/// anything), or None for a file that is all tests.
fn code(path: &Path) -> Option<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
    {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    Some(
        text.lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Module path of a file under src: ["server", "http"] for src/server/http.rs.
fn module_path(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every `crate::a::b...` path in `code`, as segments (braced `use crate::{a, b::c}` too).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}').unwrap_or(inner.len());
            for item in inner[..end].split(',') {
                out.push(segments(item.trim()));
            }
        } else {
            out.push(segments(rest));
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn segments(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let seg = &rest[..end];
        if seg.is_empty() || !seg.starts_with(|c: char| c.is_ascii_lowercase()) {
            break;
        }
        out.push(seg.to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    out
}

/// Edges between top-level modules, and between sibling submodules of one module.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let me = module_path(&f);
        if me.is_empty() || me == ["main"] || me == ["lib"] {
            continue;
        }
        let Some(code) = code(&f) else { continue };
        for p in crate_paths(&code) {
            if p[0] != me[0] {
                g.entry(me[0].clone()).or_default().insert(p[0].clone());
            } else if me.len() > 1 && p.len() > 1 && p[1] != me[1] && p[..1] == me[..1] {
                // Siblings inside one directory module: crate::server::http from server/ws.
                g.entry(format!("{}::{}", me[0], me[1]))
                    .or_default()
                    .insert(format!("{}::{}", p[0], p[1]));
            }
        }
    }
    g
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for f in files {
        let m = module_path(&f);
        if m.len() == 1 && (m[0] == "main" || m[0] == "lib") {
            continue;
        }
        assert!(
            layer(&m[0]).is_some(),
            "src/{} has no layer: add it to LAYERS here and to docs/architecture.md",
            m[0]
        );
    }
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        let Some(lf) = layer(from.split("::").next().unwrap()) else {
            continue;
        };
        for to in tos {
            match layer(to.split("::").next().unwrap()) {
                Some(lt) if lt > lf => {
                    wrong.push(format!("{from} (layer {lf}) -> {to} (layer {lt})"))
                }
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_core_does_no_io_and_starts_no_runtime() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let m = module_path(&f);
        if layer(&m[0]) != Some(0) || CORE_IO_ALLOWED.contains(&m[0].as_str()) {
            continue;
        }
        let Some(code) = code(&f) else { continue };
        for bad in CORE_FORBIDDEN {
            if code.contains(bad) {
                wrong.push(format!("{}: {bad}", f.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "I/O or runtime in the core:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn there_is_no_module_cycle() {
    let g = graph();
    // Depth-first search for a back edge; reports the cycle it closes.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, &g, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_parser_sees_plain_braced_and_nested_imports() {
    let code = "use crate::a::b;\nuse crate::{c, d::e};\nfn f() { crate::g::h(); }";
    let p = crate_paths(code);
    let firsts: Vec<&str> = p.iter().map(|s| s[0].as_str()).collect();
    assert_eq!(firsts, ["a", "c", "d", "g"]);
    assert_eq!(p[2], ["d", "e"]);
}

/// The `module-graph` block of docs/architecture.md: module -> what it imports.
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let start = doc
        .find("```module-graph\n")
        .expect("docs/architecture.md has a ```module-graph block");
    let block = &doc[start + "```module-graph\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .filter_map(|l| l.split_once(" ──> "))
        .map(|(from, tos)| {
            let tos = tos.split(", ").map(|t| t.trim().to_string()).collect();
            (from.trim().to_string(), tos)
        })
        .collect()
}

#[test]
fn the_documented_module_graph_is_the_real_one() {
    let real: BTreeMap<String, BTreeSet<String>> = graph()
        .into_iter()
        .filter(|(from, _)| !from.contains("::"))
        .collect();
    let doc = documented_graph();
    let show = |g: &BTreeMap<String, BTreeSet<String>>| {
        g.iter()
            .map(|(k, v)| {
                format!(
                    "{k} ──> {}",
                    v.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        real == doc,
        "docs/architecture.md's module-graph block is out of date; replace it with:\n{}",
        show(&real)
    );
}
