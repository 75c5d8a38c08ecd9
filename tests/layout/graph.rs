//! The import graph of a crate's source tree, read from its `use` lines and paths: an edge
//! from file A to file B when A names an item of B through `crate::`, `super::`, `self::` or
//! one of A's child modules. Comments and string literals are skipped; macros and
//! re-exports are read as written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`reconcile::send`; the crate root is "") -> the files it imports.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `.rs` file under `root`, by module path, with its text. `bin/` is left out: each
/// binary there is a crate of its own.
pub fn read_tree(root: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("source folder is readable") {
            let path = entry.expect("folder entry").path();
            let relative = path.strip_prefix(root).expect("under root");
            if path.is_dir() {
                if relative != Path::new("bin") {
                    folders.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source file is readable");
                files.insert(module_of(relative), text);
            }
        }
    }
    files
}

/// `reconcile/send.rs` -> `reconcile::send`; `api/mod.rs`, `lib.rs`, `main.rs` -> their folder.
pub fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|last| ["mod", "lib", "main"].contains(&last.as_str()))
    {
        parts.pop();
    }
    parts.join("::")
}

/// Each file's imports of other files of the same tree.
pub fn graph(files: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    let mut graph = Graph::new();
    for (module, text) in files {
        let tokens = tokens(text);
        let children = declared_children(&tokens);
        let mut edges = BTreeSet::new();
        for path in paths(&tokens, &children) {
            if let Some(target) = resolve(module, &path, &modules)
                && target != *module
            {
                edges.insert(target);
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// A path as written, and the inline modules (`mod tests { .. }`) it was written in.
struct Written {
    segments: Vec<String>,
    inline: Vec<String>,
}

/// The file module a path names, if any: the longest prefix that is a file of the tree.
fn resolve(module: &str, path: &Written, modules: &BTreeSet<&str>) -> Option<String> {
    let mut here: Vec<String> = split(module);
    here.extend(path.inline.iter().cloned());
    let mut segments = path.segments.iter().peekable();
    let mut absolute: Vec<String> = match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("self") => {
            segments.next();
            here
        }
        Some("super") => {
            while segments.peek().is_some_and(|s| *s == "super") {
                segments.next();
                here.pop();
            }
            here
        }
        // A child module of this file.
        _ => split(module),
    };
    absolute.extend(segments.cloned());
    (0..=absolute.len())
        .rev()
        .map(|n| absolute[..n].join("::"))
        .find(|candidate| modules.contains(candidate.as_str()))
}

fn split(module: &str) -> Vec<String> {
    module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The modules a file declares as files of their own (`mod name;`).
fn declared_children(tokens: &[String]) -> BTreeSet<String> {
    tokens
        .windows(3)
        .filter(|w| w[0] == "mod" && w[2] == ";")
        .map(|w| w[1].clone())
        .collect()
}

/// Every path that starts at `crate`, `self`, `super` or a child module, with `use` trees
/// (`a::{b, c::d}`) spread into one path each.
fn paths(tokens: &[String], children: &BTreeSet<String>) -> Vec<Written> {
    let mut found = Vec::new();
    // Inline modules open at brace depths: (name, depth of its body).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                inline.push((tokens[i + 1].clone(), depth + 1));
            }
            _ => {}
        }
        let starts_path = tokens.get(i + 1).is_some_and(|t| t == "::")
            && (i == 0 || tokens[i - 1] != "::")
            && (["crate", "self", "super"].contains(&token) || children.contains(token));
        if starts_path {
            let names: Vec<String> = inline.iter().map(|(name, _)| name.clone()).collect();
            let mut spread = Vec::new();
            i = tree(tokens, i, Vec::new(), &mut spread);
            found.extend(spread.into_iter().map(|segments| Written {
                segments,
                inline: names.clone(),
            }));
            continue;
        }
        i += 1;
    }
    found
}

/// Reads one path tree from `tokens[i]`; returns the index after it.
fn tree(
    tokens: &[String],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    while i < tokens.len() {
        let token = &tokens[i];
        if token == "{" {
            i += 1;
            while i < tokens.len() && tokens[i] != "}" {
                i = tree(tokens, i, prefix.clone(), out);
                if tokens.get(i).is_some_and(|t| t == ",") {
                    i += 1;
                }
            }
            return i + 1;
        }
        if is_identifier(token) {
            if token != "self" || prefix.is_empty() {
                prefix.push(token.clone());
            }
            i += 1;
            if tokens.get(i).is_some_and(|t| t == "::") {
                i += 1;
                continue;
            }
        }
        break;
    }
    out.push(prefix);
    i
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters; comments, strings and character
/// literals dropped.
pub fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i);
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if (c == 'r' || c == 'b') && starts_raw_or_byte_string(&chars, i) {
            i = skip_prefixed_string(&chars, i);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

fn skip_block_comment(chars: &[char], mut i: usize) -> usize {
    let mut open = 0usize;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            open += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            open = open.saturating_sub(1);
            i += 2;
            if open == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// From just after an opening `"` to just after its closing one.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// `r"`, `r#"`, `b"`, `br"`, `br#"` (and not an identifier that merely starts with r or b).
fn starts_raw_or_byte_string(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) == Some(&'r') {
        j += 1;
        while chars.get(j) == Some(&'#') {
            j += 1;
        }
    }
    j > i && chars.get(j) == Some(&'"')
}

fn skip_prefixed_string(chars: &[char], mut i: usize) -> usize {
    if chars[i] == 'b' {
        i += 1;
    }
    if chars[i] != 'r' {
        return skip_string(chars, i + 1);
    }
    i += 1;
    let mut hashes = 0;
    while chars[i] == '#' {
        hashes += 1;
        i += 1;
    }
    i += 1;
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// `'x'`, `'\n'`, `'\u{1F642}'` are skipped; a lifetime (`'a`) leaves its name as a token.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// One circle of imports, if there is any: its files in order, the first repeated at the end.
pub fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::Unseen) {
                Mark::Open => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut circle = stack[start..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Mark::Unseen => {
                    if let Some(circle) = visit(next, graph, marks, stack) {
                        return Some(circle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::Unseen) == Mark::Unseen
            && let Some(circle) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(circle);
        }
    }
    None
}

/// The top folder of a module (`reconcile::send` -> `reconcile`); "" for the crate root.
pub fn folder(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}
