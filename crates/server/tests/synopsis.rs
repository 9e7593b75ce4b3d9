//! The README's synopsis of the `m2m` command against the binary's own
//! `--help`: every long flag of every command is in the synopsis line of
//! that command and every flag there exists, and the README's sentence on
//! which flags read an `M2M_<FLAG>` variable matches clap's `env` settings.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::harness::BIN;

/// The README, read from the repository root.
fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The synopsis: the code block under "### The `m2m` command", as
/// (command words, text of its entry). An entry starts with `m2m` (or
/// `every command:`, the global flags) and goes on on indented lines.
fn synopsis(readme: &str) -> Vec<(Vec<String>, String)> {
    let start = readme
        .find("### The `m2m` command")
        .expect("the README has a section \"The `m2m` command\"");
    let mut lines = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("```"));
    lines.next();
    let mut entries: Vec<(Vec<String>, String)> = Vec::new();
    for line in lines.take_while(|l| !l.starts_with("```")) {
        if let Some(rest) = line.strip_prefix("m2m ") {
            // The command's words: up to the first argument, flag or note.
            let words = rest
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .map(str::to_owned)
                .collect();
            entries.push((words, rest.to_owned()));
        } else if let Some(rest) = line.strip_prefix("every command:") {
            entries.push((Vec::new(), rest.to_owned()));
        } else if line.starts_with(' ') {
            let last = entries
                .last_mut()
                .unwrap_or_else(|| panic!("a continuation line before any command: {line:?}"));
            last.1.push(' ');
            last.1.push_str(line);
        } else {
            panic!("a synopsis line that is neither a command nor a continuation: {line:?}");
        }
    }
    assert!(!entries.is_empty(), "the synopsis block is empty");
    entries
}

/// The long flags in a piece of text.
fn flags_in(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if !name.is_empty() {
            flags.insert(format!("--{name}"));
        }
        rest = &rest[i + 2 + name.len()..];
    }
    flags
}

/// `m2m WORDS --help`: each long flag with the variable it reads, if any
/// (`--help` and `--version` left out). No `M2M_*` variable is passed on,
/// so the help shows no values.
fn help_flags(words: &[String]) -> BTreeMap<String, Option<String>> {
    let output = Command::new(BIN)
        .args(words)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run m2m --help");
    assert!(
        output.status.success(),
        "m2m {words:?} --help failed: {output:?}"
    );
    let help = String::from_utf8(output.stdout).unwrap();
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        // Option lines: "      --name <NAME>" or "  -h, --help"; in the short
        // form of the help, "[env: M2M_NAME=]" ends the same line, in the long
        // form it is a line of its own.
        let option = line.strip_prefix("      --").or_else(|| {
            line.strip_prefix("  -")
                .and_then(|l| l.split_once(", --").map(|(_, r)| r))
        });
        if let Some(option) = option {
            let name = format!("--{}", option.split([' ', '<']).next().unwrap());
            flags.insert(name.clone(), None);
            current = Some(name);
        }
        if let Some(at) = line.find("[env: ") {
            let var: String = line[at + 6..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let name = current
                .clone()
                .expect("an [env: ...] line before any option");
            flags.insert(name, Some(var));
        }
    }
    flags.remove("--help");
    flags.remove("--version");
    assert!(
        !words.is_empty() || !flags.is_empty(),
        "no flags read from m2m --help"
    );
    flags
}

/// Every command and subcommand of the binary, from the help's command lists.
fn commands() -> Vec<Vec<String>> {
    fn subcommands(words: &[String]) -> Vec<String> {
        let output = Command::new(BIN)
            .args(words)
            .arg("--help")
            .env_clear()
            .output()
            .expect("run m2m --help");
        let help = String::from_utf8(output.stdout).unwrap();
        help.lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_owned)
            .collect()
    }
    // Leaves of the command tree (`m2m client federation add` is three words).
    fn leaves(words: Vec<String>, all: &mut Vec<Vec<String>>) {
        let subs = subcommands(&words);
        if subs.is_empty() {
            all.push(words);
        } else {
            for sub in subs {
                let mut deeper = words.clone();
                deeper.push(sub);
                leaves(deeper, all);
            }
        }
    }
    let mut all = Vec::new();
    for command in subcommands(&[]) {
        leaves(vec![command], &mut all);
    }
    all
}

#[test]
fn every_flag_of_every_command_is_in_the_readme_synopsis_and_no_other() {
    let readme = readme();
    let entries = synopsis(&readme);
    let globals = help_flags(&[]);
    let global_entry = entries
        .iter()
        .find(|(words, _)| words.is_empty())
        .expect("the synopsis names the flags every command takes");
    assert_eq!(
        flags_in(&global_entry.1),
        globals.keys().cloned().collect(),
        "the synopsis's flags for every command, against `m2m --help`"
    );

    let commands = commands();
    assert!(commands.len() >= 10, "too few commands found: {commands:?}");
    for words in &commands {
        let matching: Vec<_> = entries.iter().filter(|(w, _)| w == words).collect();
        assert_eq!(
            matching.len(),
            1,
            "`m2m {}` should have exactly one line in the README synopsis",
            words.join(" ")
        );
        let expected: BTreeSet<String> = help_flags(words)
            .into_keys()
            .filter(|flag| !globals.contains_key(flag))
            .collect();
        assert_eq!(
            flags_in(&matching[0].1),
            expected,
            "the README synopsis of `m2m {}` against its --help",
            words.join(" ")
        );
    }
    for (words, _) in &entries {
        assert!(
            words.is_empty() || commands.contains(words),
            "the README synopsis names `m2m {}`, which the binary does not have",
            words.join(" ")
        );
    }
}

#[test]
fn the_readme_names_the_flags_that_read_a_variable() {
    let readme = readme();
    // "Every flag of `serve` (...), the global `--endpoint` and
    // `--admin-file`, and `token`'s `--client-id` and `--client-secret` also
    // read the variable `M2M_<FLAG>`; no other flag reads the environment".
    let start = readme
        .find("Every flag of `serve`")
        .expect("the README says which flags read an M2M_ variable");
    let end = start
        + readme[start..]
            .find("also read the variable `M2M_<FLAG>`; no other flag reads the")
            .expect("... also read the variable `M2M_<FLAG>`; no other flag reads the environment");
    let sentence = &readme[start..end];
    let claimed = flags_in(sentence);

    let globals = help_flags(&[]);
    let mut reading = BTreeSet::new();
    for (flag, var) in &globals {
        if var.is_some() {
            reading.insert(flag.clone());
        }
    }
    for words in &commands() {
        let serve = words == &["serve"];
        for (flag, var) in help_flags(words) {
            if globals.contains_key(&flag) {
                continue;
            }
            match var {
                Some(var) => {
                    let expected = format!("M2M_{}", flag[2..].to_uppercase().replace('-', "_"));
                    assert_eq!(
                        var,
                        expected,
                        "`m2m {} {flag}` reads {var}, not M2M_<FLAG>",
                        words.join(" ")
                    );
                    if !serve {
                        let owner = format!("`{}`'s", words.join(" "));
                        assert!(
                            sentence.contains(&owner),
                            "`m2m {} {flag}` reads {var}, but the README does not name {owner} flags",
                            words.join(" ")
                        );
                        reading.insert(flag);
                    }
                }
                None => assert!(
                    !serve,
                    "`m2m serve {flag}` reads no variable; the README says every serve flag does"
                ),
            }
        }
    }
    assert_eq!(
        claimed, reading,
        "the flags besides serve's the README says read a variable, against clap's env settings"
    );
}
