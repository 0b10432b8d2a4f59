//! Scores, gaps and comparisons. None of the sources prescribes a scoring method, so this is
//! Focal's own, stated in [`METHOD`] and docs/ASSESSMENT.md, and printed with every score.

use crate::assessment::Assessment;
use crate::framework::{Framework, Item, NOT_APPLICABLE};
use serde::Serialize;
use std::collections::HashMap;

/// The scoring method, as shown to readers of every score.
pub const METHOD: &str = "Focal's method (the sources prescribe none): an answer scores its level's points scaled to 0..1 between the scale's lowest and highest points; an unanswered item scores 0 (no evidence, no credit); an item answered \"n/a\" is left out. An item with sub-items scores the weighted mean of its applicable sub-items. A section scores 100 x the weighted mean of its applicable items; the overall score is the weighted mean of the section scores (sections wholly n/a are left out). A gap is the target's scaled points minus the answer's; gaps are ranked by the overall points the item would add if it reached its target.";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemScore {
    pub item: String,
    pub section: String,
    /// The item this is a sub-item of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub answer: Option<String>,
    /// 0..=1; `None` for n/a.
    pub score: Option<f64>,
    pub target: String,
    /// The target's score, 0..=1.
    pub target_score: f64,
    /// This item's share of the overall score (0..=1; 0 for n/a).
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionScore {
    pub section: String,
    pub title: String,
    /// 0..=100; `None` when every item is n/a.
    pub score: Option<f64>,
    /// The score on the scale's own points (a stage for a maturity scale).
    pub level_equivalent: Option<f64>,
    pub weight: f64,
    pub answered: usize,
    pub applicable: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub rank: usize,
    pub item: String,
    pub section: String,
    pub title: String,
    pub answer: Option<String>,
    pub target: String,
    /// Target's score minus the answer's, 0..=1.
    pub gap: f64,
    /// Overall points (0..=100) the item would add by reaching its target.
    pub points: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_date: Option<jiff::civil::Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    pub method: &'static str,
    /// 0..=100; `None` when nothing applies.
    pub overall: Option<f64>,
    pub band: Option<String>,
    pub items_total: usize,
    pub answered: usize,
    pub not_applicable: usize,
    pub unanswered: usize,
    pub sections: Vec<SectionScore>,
    pub items: Vec<ItemScore>,
    pub gaps: Vec<Gap>,
}

/// Weighted mean over the `Some` scores; `None` when no weight applies.
fn weighted_mean(parts: impl Iterator<Item = (f64, Option<f64>)>) -> Option<f64> {
    let (mut sum, mut weight) = (0.0, 0.0);
    for (w, s) in parts {
        if let Some(s) = s {
            sum += w * s;
            weight += w;
        }
    }
    (weight > 0.0).then(|| sum / weight)
}

/// Scores an assessment against its framework, with its gaps ranked.
pub fn score(framework: &Framework, assessment: &Assessment) -> Scorecard {
    let answers: HashMap<&str, &crate::assessment::Answer> = assessment
        .answers
        .iter()
        .map(|a| (a.item.as_str(), a))
        .collect();
    let level_of = |id: &str| answers.get(id).and_then(|a| a.level.clone());
    let target_of = |item: &Item| {
        answers
            .get(item.id.as_str())
            .and_then(|a| a.target.clone())
            .unwrap_or_else(|| framework.default_target_of(item).to_string())
    };
    // A leaf's score: scaled points, 0 when unanswered, None when n/a.
    let leaf_score = |id: &str| match level_of(id).as_deref() {
        Some(NOT_APPLICABLE) => None,
        Some(level) => Some(framework.normalised(level).unwrap_or(0.0)),
        None => Some(0.0),
    };
    let item_score = |item: &Item| {
        if item.subitems.is_empty() {
            leaf_score(&item.id)
        } else {
            weighted_mean(item.subitems.iter().map(|s| (s.weight, leaf_score(&s.id))))
        }
    };

    let mut sections = Vec::new();
    for section in &framework.sections {
        let score = weighted_mean(section.items.iter().map(|i| (i.weight, item_score(i))));
        let leaves: Vec<&Item> = section
            .items
            .iter()
            .flat_map(|i| {
                if i.subitems.is_empty() {
                    vec![i]
                } else {
                    i.subitems.iter().collect()
                }
            })
            .collect();
        let (low, high) = framework.points_range();
        sections.push(SectionScore {
            section: section.id.clone(),
            title: section.title.clone(),
            score: score.map(|s| s * 100.0),
            level_equivalent: score.map(|s| low + s * (high - low)),
            weight: section.weight,
            answered: leaves
                .iter()
                .filter(|l| level_of(&l.id).is_some_and(|v| v != NOT_APPLICABLE))
                .count(),
            applicable: leaves
                .iter()
                .filter(|l| level_of(&l.id).as_deref() != Some(NOT_APPLICABLE))
                .count(),
        });
    }
    let overall = weighted_mean(sections.iter().map(|s| (s.weight, s.score)));
    let scored_section_weight: f64 = sections
        .iter()
        .filter(|s| s.score.is_some())
        .map(|s| s.weight)
        .sum();

    // Each leaf's share of the overall score, following the weights down.
    let mut items = Vec::new();
    for (section, section_score) in framework.sections.iter().zip(&sections) {
        let section_share = if section_score.score.is_some() && scored_section_weight > 0.0 {
            section.weight / scored_section_weight
        } else {
            0.0
        };
        let applicable_item_weight: f64 = section
            .items
            .iter()
            .filter(|i| item_score(i).is_some())
            .map(|i| i.weight)
            .sum();
        for item in &section.items {
            let item_share = if item_score(item).is_some() && applicable_item_weight > 0.0 {
                section_share * item.weight / applicable_item_weight
            } else {
                0.0
            };
            let mut push = |leaf: &Item, parent: Option<&Item>, share: f64| {
                let target = target_of(leaf);
                items.push(ItemScore {
                    item: leaf.id.clone(),
                    section: section.id.clone(),
                    parent: parent.map(|p| p.id.clone()),
                    answer: level_of(&leaf.id),
                    score: leaf_score(&leaf.id),
                    target_score: framework.normalised(&target).unwrap_or(1.0),
                    target,
                    share,
                });
            };
            if item.subitems.is_empty() {
                push(item, None, item_share);
            } else {
                let applicable_sub: f64 = item
                    .subitems
                    .iter()
                    .filter(|s| leaf_score(&s.id).is_some())
                    .map(|s| s.weight)
                    .sum();
                for sub in &item.subitems {
                    let share = if leaf_score(&sub.id).is_some() && applicable_sub > 0.0 {
                        item_share * sub.weight / applicable_sub
                    } else {
                        0.0
                    };
                    push(sub, Some(item), share);
                }
            }
        }
    }

    let leaves = framework.leaves();
    let mut gaps: Vec<(usize, Gap)> = items
        .iter()
        .enumerate()
        .filter_map(|(order, i)| {
            let score = i.score?;
            let gap = i.target_score - score;
            (gap > 1e-12).then(|| {
                let leaf = leaves.iter().find(|l| l.item.id == i.item);
                let answer = answers.get(i.item.as_str());
                (
                    order,
                    Gap {
                        rank: 0,
                        item: i.item.clone(),
                        section: i.section.clone(),
                        title: leaf
                            .map(|l| l.item.title.clone().unwrap_or_else(|| l.item.text.clone()))
                            .unwrap_or_default(),
                        answer: i.answer.clone(),
                        target: i.target.clone(),
                        gap,
                        points: 100.0 * gap * i.share,
                        owner: answer.and_then(|a| a.owner.clone()),
                        target_date: answer.and_then(|a| a.target_date),
                    },
                )
            })
        })
        .collect();
    // Most overall points first; then the larger gap; then framework order (stable).
    gaps.sort_by(|(oa, a), (ob, b)| {
        b.points
            .total_cmp(&a.points)
            .then(b.gap.total_cmp(&a.gap))
            .then(oa.cmp(ob))
    });
    let gaps: Vec<Gap> = gaps
        .into_iter()
        .enumerate()
        .map(|(n, (_, mut g))| {
            g.rank = n + 1;
            g
        })
        .collect();

    let not_applicable = items
        .iter()
        .filter(|i| i.answer.as_deref() == Some(NOT_APPLICABLE))
        .count();
    let unanswered = items.iter().filter(|i| i.answer.is_none()).count();
    Scorecard {
        method: METHOD,
        band: overall.and_then(|o| framework.band_of(o).map(|b| b.name.clone())),
        overall,
        items_total: items.len(),
        answered: items.len() - not_applicable - unanswered,
        not_applicable,
        unanswered,
        sections,
        items,
        gaps,
    }
}

/// One item whose answer differs between two assessments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemChange {
    pub item: String,
    pub section: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub before_score: Option<f64>,
    pub after_score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionChange {
    pub section: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub delta: Option<f64>,
}

/// What changed from one assessment to a later one of the same subject and framework.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub from: i64,
    pub to: i64,
    pub overall_before: Option<f64>,
    pub overall_after: Option<f64>,
    pub overall_delta: Option<f64>,
    pub sections: Vec<SectionChange>,
    /// Items whose score went up.
    pub improved: Vec<ItemChange>,
    /// Items whose score went down.
    pub regressed: Vec<ItemChange>,
    /// Items whose answer changed without a comparable score change (to or from n/a, or to a
    /// level with the same points).
    pub other_changes: Vec<ItemChange>,
    /// Items only in the later framework version, or only in the earlier one.
    pub added_items: Vec<String>,
    pub removed_items: Vec<String>,
}

/// Compares two assessments (each with its own framework version). Exactly the items whose answer
/// differs are listed, each once.
pub fn compare(
    before_fw: &Framework,
    before: &Assessment,
    after_fw: &Framework,
    after: &Assessment,
) -> Comparison {
    let a = score(before_fw, before);
    let b = score(after_fw, after);
    let before_items: HashMap<&str, &ItemScore> =
        a.items.iter().map(|i| (i.item.as_str(), i)).collect();
    let after_ids: std::collections::HashSet<&str> =
        b.items.iter().map(|i| i.item.as_str()).collect();
    let (mut improved, mut regressed, mut other) = (Vec::new(), Vec::new(), Vec::new());
    let mut added = Vec::new();
    for i in &b.items {
        let Some(old) = before_items.get(i.item.as_str()) else {
            added.push(i.item.clone());
            continue;
        };
        if old.answer == i.answer {
            continue;
        }
        let change = ItemChange {
            item: i.item.clone(),
            section: i.section.clone(),
            before: old.answer.clone(),
            after: i.answer.clone(),
            before_score: old.score,
            after_score: i.score,
        };
        match (old.score, i.score) {
            (Some(x), Some(y)) if y > x => improved.push(change),
            (Some(x), Some(y)) if y < x => regressed.push(change),
            _ => other.push(change),
        }
    }
    let removed = a
        .items
        .iter()
        .filter(|i| !after_ids.contains(i.item.as_str()))
        .map(|i| i.item.clone())
        .collect();
    let sections = b
        .sections
        .iter()
        .map(|s| {
            let old = a
                .sections
                .iter()
                .find(|o| o.section == s.section)
                .and_then(|o| o.score);
            SectionChange {
                section: s.section.clone(),
                before: old,
                after: s.score,
                delta: old.zip(s.score).map(|(x, y)| y - x),
            }
        })
        .collect();
    Comparison {
        from: before.header.id,
        to: after.header.id,
        overall_before: a.overall,
        overall_after: b.overall,
        overall_delta: a.overall.zip(b.overall).map(|(x, y)| y - x),
        sections,
        improved,
        regressed,
        other_changes: other,
        added_items: added,
        removed_items: removed,
    }
}
