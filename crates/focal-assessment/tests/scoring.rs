//! Scores, gaps and comparisons checked against worked examples computed by hand (the
//! arithmetic is written out beside each expected value).

use focal_assessment::*;

const SMALL: &str = r#"
format = "focal-framework/1"
id = "worked"
version = "1"
title = "Worked example"
subject = "organisation"
reassess_months = 12
[source]
citation = "made up for the test"
text_kind = "summary"
[scale]
name = "yes/partial/no"
[[scale.levels]]
id = "no"
label = "No"
points = 0
[[scale.levels]]
id = "partial"
label = "Partial"
points = 1
[[scale.levels]]
id = "yes"
label = "Yes"
points = 2
[[bands]]
min = 0
name = "low"
[[bands]]
min = 75
name = "high"
[[bands]]
min = 50
name = "mid"
[[sections]]
id = "S1"
title = "One"
weight = 2
[[sections.items]]
id = "A"
text = "a"
[[sections.items]]
id = "B"
text = "b"
weight = 3
[[sections]]
id = "S2"
title = "Two"
[[sections.items]]
id = "C"
text = "c"
[[sections.items.subitems]]
id = "C1"
text = "c1"
[[sections.items.subitems]]
id = "C2"
text = "c2"
[[sections.items]]
id = "D"
text = "d"
"#;

fn framework() -> Framework {
    Framework::parse("worked.toml", SMALL).unwrap()
}

fn assessment(id: i64, answers: &[(&str, &str)]) -> Assessment {
    Assessment {
        header: AssessmentHeader {
            id,
            framework_id: "worked".into(),
            framework_version: "1".into(),
            subject: Subject {
                kind: SubjectKind::Organisation,
                name: "Org".into(),
                constituent: None,
            },
            status: Status::Draft,
            based_on: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            created_by: "t".into(),
            completed_at: None,
            completed_by: None,
            due: None,
        },
        answers: answers
            .iter()
            .map(|(item, level)| Answer {
                item: item.to_string(),
                level: Some(level.to_string()),
                ..Answer::default()
            })
            .collect(),
        files: vec![],
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn sections_overall_and_band_follow_the_weights() {
    let f = framework();
    // A = yes (1), B = partial (0.5), C1 = yes (1), C2 = n/a (left out), D unanswered (0).
    let card = score(
        &f,
        &assessment(
            1,
            &[("A", "yes"), ("B", "partial"), ("C1", "yes"), ("C2", "n/a")],
        ),
    );
    // S1 = 100 x (1x1 + 3x0.5) / (1 + 3) = 62.5
    assert!(close(card.sections[0].score.unwrap(), 62.5));
    // C = weighted mean of applicable sub-items = C1 = 1; S2 = 100 x (1x1 + 1x0) / 2 = 50
    assert!(close(card.sections[1].score.unwrap(), 50.0));
    // Overall = (2 x 62.5 + 1 x 50) / 3 = 175 / 3
    assert!(close(card.overall.unwrap(), 175.0 / 3.0));
    assert_eq!(card.band.as_deref(), Some("mid"));
    // On the scale's own points: 0 + 0.625 x (2 - 0) = 1.25
    assert!(close(card.sections[0].level_equivalent.unwrap(), 1.25));
    assert_eq!(
        (
            card.items_total,
            card.answered,
            card.not_applicable,
            card.unanswered
        ),
        (5, 3, 1, 1)
    );
}

#[test]
fn gaps_are_ranked_by_the_overall_points_they_would_add() {
    let f = framework();
    let card = score(
        &f,
        &assessment(
            1,
            &[("A", "yes"), ("B", "partial"), ("C1", "yes"), ("C2", "n/a")],
        ),
    );
    let gaps: Vec<(&str, f64, f64)> = card
        .gaps
        .iter()
        .map(|g| (g.item.as_str(), g.gap, g.points))
        .collect();
    // B: gap 1 - 0.5 = 0.5; share = (2/3 of the overall) x (3/4 of S1) = 0.5; 100 x 0.5 x 0.5 = 25.
    // D: gap 1 - 0 = 1; share = (1/3) x (1/2) = 1/6; 100 x 1 x 1/6 = 16.67.
    // A and C1 are at target; C2 is n/a.
    assert_eq!(gaps.len(), 2);
    assert_eq!(gaps[0].0, "B");
    assert!(close(gaps[0].1, 0.5) && close(gaps[0].2, 25.0));
    assert_eq!(gaps[1].0, "D");
    assert!(close(gaps[1].1, 1.0) && close(gaps[1].2, 100.0 / 6.0));
    assert_eq!(card.gaps[0].rank, 1);
    // Closing every gap adds up to the whole distance to 100.
    let total: f64 = card.gaps.iter().map(|g| g.points).sum();
    assert!(close(card.overall.unwrap() + total, 100.0));
}

#[test]
fn a_lower_target_shrinks_the_gap() {
    let f = framework();
    let mut a = assessment(1, &[("A", "no")]);
    a.answers[0].target = Some("partial".into());
    let card = score(&f, &a);
    let gap = card.gaps.iter().find(|g| g.item == "A").unwrap();
    assert!(close(gap.gap, 0.5));
    assert_eq!(gap.target, "partial");
}

#[test]
fn a_section_wholly_not_applicable_is_left_out_of_the_overall() {
    let f = framework();
    let card = score(
        &f,
        &assessment(
            1,
            &[
                ("A", "n/a"),
                ("B", "n/a"),
                ("C1", "yes"),
                ("C2", "no"),
                ("D", "yes"),
            ],
        ),
    );
    assert_eq!(card.sections[0].score, None);
    // S2: C = (1 + 0) / 2 = 0.5; S2 = 100 x (0.5 + 1) / 2 = 75; the overall is S2 alone.
    assert!(close(card.sections[1].score.unwrap(), 75.0));
    assert!(close(card.overall.unwrap(), 75.0));
    assert_eq!(card.band.as_deref(), Some("high"));
}

#[test]
fn the_nine_elements_score_as_computed_by_hand() {
    let f = framework::builtin()
        .unwrap()
        .into_iter()
        .find(|f| f.id == "un-ares-57-239")
        .unwrap();
    // Five yes (1 each), three partial (0.5 each), one no: (5 + 1.5) / 9 = 72.22...
    let a = assessment(
        1,
        &[
            ("a", "yes"),
            ("b", "yes"),
            ("c", "yes"),
            ("d", "yes"),
            ("e", "yes"),
            ("f", "partial"),
            ("g", "partial"),
            ("h", "partial"),
            ("i", "no"),
        ],
    );
    let card = score(&f, &a);
    assert!(close(card.overall.unwrap(), 650.0 / 9.0));
    // Item i closes 1/9 of the whole: 11.1 points; each partial 0.5/9: 5.6 points.
    assert_eq!(card.gaps[0].item, "i");
    assert!(close(card.gaps[0].points, 100.0 / 9.0));
    assert_eq!(
        card.gaps[1..]
            .iter()
            .map(|g| g.item.as_str())
            .collect::<Vec<_>>(),
        ["f", "g", "h"]
    );
}

#[test]
fn the_comparison_lists_exactly_the_changed_items() {
    let f = framework();
    let first = assessment(
        1,
        &[("A", "yes"), ("B", "partial"), ("C1", "yes"), ("C2", "n/a")],
    );
    // B up, A down, C2 from n/a to no, C1 and D (unanswered) unchanged.
    let second = assessment(
        2,
        &[("A", "partial"), ("B", "yes"), ("C1", "yes"), ("C2", "no")],
    );
    let c = compare(&f, &first, &f, &second);
    let ids = |v: &[score::ItemChange]| v.iter().map(|c| c.item.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&c.improved), ["B"]);
    assert_eq!(ids(&c.regressed), ["A"]);
    assert_eq!(ids(&c.other_changes), ["C2"]);
    assert!(c.added_items.is_empty() && c.removed_items.is_empty());
    // Before 175/3; after: S1 = (0.5 + 3) / 4 = 87.5, S2 = ((1 + 0) / 2 + 0) / 2 = 25,
    // overall = (2 x 87.5 + 25) / 3 = 200/3.
    assert!(close(c.overall_after.unwrap(), 200.0 / 3.0));
    assert!(close(c.overall_delta.unwrap(), 25.0 / 3.0));
    assert!(close(c.sections[0].delta.unwrap(), 25.0));
    assert!(close(c.sections[1].delta.unwrap(), -25.0));
}

#[test]
fn comparing_an_assessment_with_itself_lists_nothing() {
    let f = framework();
    let a = assessment(1, &[("A", "yes"), ("C2", "n/a")]);
    let c = compare(&f, &a, &f, &a);
    assert!(c.improved.is_empty() && c.regressed.is_empty() && c.other_changes.is_empty());
    assert_eq!(c.overall_delta, Some(0.0));
}

#[test]
fn answers_are_checked_against_the_framework() {
    let f = framework();
    let change = |level: &str| AnswerChange {
        level: Some(Some(level.into())),
        ..AnswerChange::default()
    };
    assert!(apply_change(&f, "A", None, &change("yes")).is_ok());
    assert!(apply_change(&f, "A", None, &change("n/a")).is_ok());
    let e = apply_change(&f, "A", None, &change("maybe")).unwrap_err();
    assert_eq!(e.field, "answer");
    assert!(e.message.contains("no, partial, yes, n/a"), "{e}");
    let e = apply_change(&f, "C", None, &change("yes")).unwrap_err();
    assert!(e.message.contains("sub-items"), "{e}");
    let e = apply_change(&f, "Z", None, &change("yes")).unwrap_err();
    assert_eq!(e.field, "item");
    let e = apply_change(
        &f,
        "A",
        None,
        &AnswerChange {
            add_links: vec!["javascript:alert(1)".into()],
            ..AnswerChange::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field, "link");
    let e = apply_change(
        &f,
        "A",
        None,
        &AnswerChange {
            target: Some(Some("n/a".into())),
            ..AnswerChange::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field, "target");
}

#[test]
fn reassessment_dates_and_due_lists() {
    let completed: jiff::Timestamp = "2025-01-31T10:00:00Z".parse().unwrap();
    // 12 months after 31 January 2025 is 31 January 2026; 1 month after is 28 February.
    assert_eq!(due_after(completed, 12).to_string(), "2026-01-31");
    assert_eq!(due_after(completed, 1).to_string(), "2025-02-28");
    let header = |id, subject: &str, completed: &str, due: &str| AssessmentHeader {
        id,
        framework_id: "worked".into(),
        framework_version: "1".into(),
        subject: Subject {
            kind: SubjectKind::Organisation,
            name: subject.into(),
            constituent: None,
        },
        status: Status::Completed,
        based_on: None,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        created_by: "t".into(),
        completed_at: Some(completed.parse().unwrap()),
        completed_by: Some("t".into()),
        due: Some(due.parse().unwrap()),
    };
    let headers = vec![
        header(1, "Org", "2024-01-10T00:00:00Z", "2025-01-10"),
        // Org was reassessed: only its latest counts.
        header(2, "Org", "2025-01-05T00:00:00Z", "2026-01-05"),
        header(3, "Other", "2024-06-01T00:00:00Z", "2025-06-01"),
        header(4, "Third", "2025-03-01T00:00:00Z", "2026-03-01"),
    ];
    let today = "2025-07-01".parse().unwrap();
    let due = due_reassessments(&headers, today, "2026-01-31".parse().unwrap());
    let got: Vec<(i64, bool, i64)> = due
        .iter()
        .map(|d| (d.assessment.id, d.overdue, d.days_overdue))
        .collect();
    // Other: due 2025-06-01, 30 days late; Org: due 2026-01-05, 188 days ahead. Third is
    // after the horizon.
    assert_eq!(got, [(3, true, 30), (2, false, -188)]);
}
