//! Reciprocal rank fusion: how the full-text and the vector rankings of
//! memories become one. Each list contributes `1 / (K + rank)` for every
//! item it ranks, so an item both lists rank well wins, and neither list's
//! raw scores (BM25, cosine), which are not comparable, matter.

use std::collections::HashMap;

/// The constant of Cormack et al.'s paper; large enough that the top few
/// ranks of one list do not drown the other.
pub const RRF_K: f64 = 60.0;

/// One fused item: its score and its 1-based rank in each list.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub id: String,
    pub score: f64,
    pub text_rank: Option<usize>,
    pub vector_rank: Option<usize>,
}

/// Fuses two rankings (best first) into one, best first; ties keep the
/// text ranking's order, then the vector ranking's.
pub fn fuse(text: &[String], vector: &[String]) -> Vec<Fused> {
    let mut fused: Vec<Fused> = Vec::with_capacity(text.len() + vector.len());
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (list, is_text) in [(text, true), (vector, false)] {
        for (i, id) in list.iter().enumerate() {
            let rank = i + 1;
            let at = *position.entry(id).or_insert_with(|| {
                fused.push(Fused {
                    id: id.clone(),
                    score: 0.0,
                    text_rank: None,
                    vector_rank: None,
                });
                fused.len() - 1
            });
            let item = &mut fused[at];
            let slot = if is_text {
                &mut item.text_rank
            } else {
                &mut item.vector_rank
            };
            if slot.is_none() {
                *slot = Some(rank);
                item.score += 1.0 / (RRF_K + rank as f64);
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn what_both_lists_rank_wins() {
        let fused = fuse(&ids(&["a", "b", "c"]), &ids(&["c", "d", "a"]));
        let order: Vec<&str> = fused.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(order, ["a", "c", "b", "d"]);
        assert_eq!(fused[0].text_rank, Some(1));
        assert_eq!(fused[0].vector_rank, Some(3));
        assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
        assert_eq!(fused[3].text_rank, None);
    }

    #[test]
    fn one_empty_list_keeps_the_other_order_and_repeats_count_once() {
        let fused = fuse(&[], &ids(&["x", "y", "x"]));
        let order: Vec<&str> = fused.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(order, ["x", "y"]);
        assert_eq!(fused[0].vector_rank, Some(1));
        assert!(fuse(&[], &[]).is_empty());
    }
}
