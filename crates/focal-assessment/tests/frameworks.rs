//! Malformed framework files are refused with the file, the path inside the document, the line
//! where the parser knows it, and what is wrong; every content problem is reported at once.

use focal_assessment::framework::{self, Framework};

/// The shipped 57/239 file, edited by `edit`.
fn edited(edit: impl Fn(String) -> String) -> String {
    edit(framework::BUILTIN_FILES[0].1.to_string())
}

fn problems(file: &str, text: &str) -> Vec<(String, Option<usize>, String)> {
    let e = Framework::parse(file, text).unwrap_err();
    assert_eq!(e.file, file);
    e.problems
        .into_iter()
        .map(|p| (p.path, p.line, p.message))
        .collect()
}

#[test]
fn a_toml_syntax_error_names_the_line() {
    let text = edited(|t| t.replace("reassess_months = 12", "reassess_months = = 12"));
    let p = problems("mine.toml", &text);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].1, Some(10), "{p:?}");
}

#[test]
fn an_unknown_field_names_its_path_and_line() {
    let text = edited(|t| {
        t.replacen(
            "id = \"b\"\ntitle = \"Responsibility\"",
            "id = \"b\"\nwieght = 2\ntitle = \"Responsibility\"",
            1,
        )
    });
    let p = problems("mine.toml", &text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "sections[0].items[1].wieght");
    assert!(p[0].2.contains("unknown field `wieght`"), "{p:?}");
    let line = text.lines().position(|l| l == "wieght = 2").unwrap() + 1;
    assert_eq!(p[0].1, Some(line));
}

#[test]
fn a_value_of_the_wrong_type_names_its_path() {
    let text = edited(|t| {
        t.replacen(
            "id = \"c\"\ntitle = \"Response\"",
            "id = \"c\"\ntitle = \"Response\"\nweight = \"heavy\"",
            1,
        )
    });
    let p = problems("mine.toml", &text);
    assert_eq!(p[0].0, "sections[0].items[2].weight", "{p:?}");
    assert!(p[0].2.contains("invalid type"), "{p:?}");
}

#[test]
fn every_content_problem_is_reported_with_its_path() {
    let text = edited(|t| {
        t.replace(
            "format = \"focal-framework/1\"",
            "format = \"focal-framework/9\"",
        )
        .replace("default_target = \"yes\"", "default_target = \"always\"")
        .replacen("id = \"d\"", "id = \"a\"", 1)
        .replacen(
            "id = \"e\"\ntitle",
            "id = \"e\"\ntarget = \"sometimes\"\ntitle",
            1,
        )
        .replacen("id = \"partial\"", "id = \"n/a\"", 1)
    });
    let p = problems("mine.toml", &text);
    let got: Vec<(&str, &str)> = p.iter().map(|(a, _, m)| (a.as_str(), m.as_str())).collect();
    assert!(
        got.contains(&(
            "format",
            "is \"focal-framework/9\"; this Focal reads \"focal-framework/1\""
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "scale.levels[1].id",
            "\"n/a\" is reserved for \"does not apply\""
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "scale.default_target",
            "\"always\" is not a level of the scale"
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "sections[0].items[3].id",
            "duplicate item id \"a\" (first at sections[0].items[0])"
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "sections[0].items[4].target",
            "\"sometimes\" is not a level of the scale"
        )),
        "{got:?}"
    );
    assert_eq!(p.len(), 5, "{got:?}");
    // The message shown to a person names the file on every line.
    let shown = Framework::parse("mine.toml", &text)
        .unwrap_err()
        .to_string();
    assert_eq!(shown.lines().count(), 5);
    assert!(
        shown.lines().all(|l| l.starts_with("mine.toml: ")),
        "{shown}"
    );
}

#[test]
fn weights_that_can_never_score_are_refused() {
    let text = edited(|t| t.replace("id = \"elements\"", "id = \"elements\"\nweight = 0"));
    let p = problems("mine.toml", &text);
    assert_eq!(p[0].0, "sections");
    let text = edited(|t| t.replacen("id = \"a\"\n", "id = \"a\"\nweight = -1\n", 1));
    let p = problems("mine.toml", &text);
    assert_eq!(p[0].0, "sections[0].items[0].weight");
}

#[test]
fn json_files_get_paths_and_lines_too() {
    let good = Framework::parse("a.toml", framework::BUILTIN_FILES[0].1).unwrap();
    let mut value = serde_json::to_value(&good).unwrap();
    value["sections"][0]["items"][2]["weight"] = serde_json::json!("heavy");
    let text = serde_json::to_string_pretty(&value).unwrap();
    let p = problems("mine.json", &text);
    assert_eq!(p[0].0, "sections[0].items[2].weight", "{p:?}");
    let line = text.lines().position(|l| l.contains("\"heavy\"")).unwrap() + 1;
    assert_eq!(p[0].1, Some(line));

    let mut value = serde_json::to_value(&good).unwrap();
    value.as_object_mut().unwrap().remove("scale");
    let p = problems("mine.json", &value.to_string());
    assert_eq!(p[0].0, ".");
    assert!(p[0].2.contains("missing field `scale`"), "{p:?}");
}

#[test]
fn an_oversized_or_empty_file_is_refused() {
    let big = "#".repeat(framework::MAX_FILE_BYTES + 1);
    let p = problems("big.toml", &big);
    assert!(p[0].2.contains("at most"), "{p:?}");
    let p = problems("empty.toml", "");
    assert!(p[0].2.contains("missing field"), "{p:?}");
}
