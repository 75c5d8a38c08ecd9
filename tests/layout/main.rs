//! The source layout holds without anyone policing it: stage folders at the top of `src/`,
//! each using only the stages below it, and no import circle between files, in the operator
//! and in the emulator.

mod graph;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use graph::{Graph, find_circle, folder, graph, read_tree};

/// The operator's stages, in the order a reconcile passes through them; a folder may use
/// only the folders after it (those of one rank do not use each other).
const STAGES: [(&str, usize); 6] = [
    ("runtime", 0),
    ("reconcile", 1),
    ("aws", 2),
    ("pacing", 2),
    ("rules", 3),
    ("api", 4),
];

/// The emulator's stages, in the order a wire call passes through them.
const EMULATOR_STAGES: [(&str, usize); 7] = [
    ("serving", 0),
    ("calls", 1),
    ("ops", 2),
    ("sts", 2),
    ("model", 3),
    ("faults", 4),
    ("protocol", 5),
];

fn source(crate_folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_folder)
        .join("src")
}

fn files(crate_folder: &str) -> BTreeMap<String, String> {
    read_tree(&source(crate_folder))
}

fn rank(stage: &str) -> Option<usize> {
    rank_in(&STAGES, stage)
}

fn rank_in(stages: &[(&str, usize)], stage: &str) -> Option<usize> {
    stages
        .iter()
        .find(|(name, _)| *name == stage)
        .map(|(_, rank)| *rank)
}

/// Imports from one stage folder of the operator into another that is not below it.
fn upward_imports(graph: &Graph) -> Vec<String> {
    upward_imports_in(&STAGES, graph)
}

/// Imports from one stage folder into another that is not below it, for `stages`.
fn upward_imports_in(stages: &[(&str, usize)], graph: &Graph) -> Vec<String> {
    let mut wrong = Vec::new();
    for (module, targets) in graph {
        let from = folder(module);
        for target in targets {
            let to = folder(target);
            if from == to || from.is_empty() {
                continue;
            }
            match (rank_in(stages, from), rank_in(stages, to)) {
                (Some(a), Some(b)) if b > a => {}
                _ => wrong.push(format!("{module} -> {target}")),
            }
        }
    }
    wrong
}

#[test]
/// `src/` holds `main.rs`, `lib.rs` and stage folders (and `bin/`), nothing else.
fn src_top_level_holds_only_main_lib_and_stage_folders() {
    let mut extra = Vec::new();
    for entry in std::fs::read_dir(source(".")).expect("src/ is readable") {
        let path = entry.expect("src/ entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let allowed = if path.is_dir() {
            name == "bin" || rank(&name).is_some()
        } else {
            name == "main.rs" || name == "lib.rs"
        };
        if !allowed {
            extra.push(name);
        }
    }
    assert!(
        extra.is_empty(),
        "src/ holds {extra:?}: put files in a stage folder ({:?}), or add a stage to tests/layout",
        STAGES.map(|(name, _)| name)
    );
}

#[test]
/// No file of the operator imports, through any chain, a file that imports it.
fn operator_has_no_import_circle() {
    let circle = find_circle(&graph(&files(".")));
    assert_eq!(circle, None, "import circle in src/");
}

#[test]
/// Each stage folder uses only the stages below it: runtime -> reconcile -> aws, pacing ->
/// rules -> api.
fn operator_stages_use_only_stages_below() {
    let wrong = upward_imports(&graph(&files(".")));
    assert!(wrong.is_empty(), "imports against the flow: {wrong:#?}");
}

#[test]
/// No file of the emulator imports, through any chain, a file that imports it.
fn emulator_has_no_import_circle() {
    let circle = find_circle(&graph(&files("emulator")));
    assert_eq!(circle, None, "import circle in emulator/src/");
}

#[test]
/// Each emulator folder uses only the folders below it: serving -> calls -> ops, sts ->
/// model -> faults -> protocol.
fn emulator_stages_use_only_stages_below() {
    let wrong = upward_imports_in(&EMULATOR_STAGES, &graph(&files("emulator")));
    assert!(wrong.is_empty(), "imports against the flow: {wrong:#?}");
}

#[test]
/// Every operator file opens with a `//!` line saying its one job.
fn every_operator_file_says_its_job() {
    let silent: Vec<String> = files(".")
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(module, _)| module)
        .collect();
    assert!(silent.is_empty(), "files without a //! header: {silent:?}");
}

/// A tree given as (path, text) pairs.
fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, text)| (graph::module_of(Path::new(path)), (*text).to_owned()))
        .collect()
}

#[test]
/// The checks can fail: a parent and child that use each other, a circle through a `use`
/// tree, and an import against the flow are all found; comments and strings are not paths.
fn the_checks_find_what_they_guard_against() {
    let parent_and_child = tree(&[
        ("lib.rs", "pub mod ops;"),
        (
            "ops/mod.rs",
            "mod list;\npub fn run() { list::go() }\npub struct Request;",
        ),
        ("ops/list.rs", "use super::Request;\npub fn go() {}"),
    ]);
    assert_eq!(
        find_circle(&graph(&parent_and_child)),
        Some(vec!["ops".into(), "ops::list".into(), "ops".into()])
    );

    let through_a_tree = tree(&[
        ("a.rs", "use crate::{b::B, c};"),
        ("b.rs", "pub struct B;"),
        ("c.rs", "pub fn f() -> crate::a::A { todo!() }"),
    ]);
    assert!(find_circle(&graph(&through_a_tree)).is_some());

    let quiet = tree(&[
        (
            "a.rs",
            "// crate::b::x\n/* crate::b::y */\nconst S: &str = \"crate::b::z\";\nfn f<'a>(c: char) -> bool { c == '\\'' }",
        ),
        ("b.rs", "fn g() { crate::a::f(); }"),
    ]);
    assert_eq!(find_circle(&graph(&quiet)), None);

    let against_the_flow = tree(&[
        ("api/mod.rs", "pub mod reason;"),
        ("api/reason.rs", "use crate::rules::outcome::SendFailure;"),
        ("rules/mod.rs", "pub mod outcome;"),
        ("rules/outcome.rs", "use crate::api::reason::Reason;"),
    ]);
    let graph = graph(&against_the_flow);
    assert_eq!(
        upward_imports(&graph),
        vec!["api::reason -> rules::outcome"]
    );
}
