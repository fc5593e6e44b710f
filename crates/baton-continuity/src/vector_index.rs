//! The in-process approximate nearest-neighbour index over memory vectors
//! (HNSW, from the `hnsw_rs` crate), so that neither SQLite nor PostgreSQL
//! needs a vector extension. One index holds one workspace's vectors of one
//! embedding model; it catches up from the store by `seq` and answers with
//! memory ids, which the caller reads back from the store (so a memory
//! another process forgot simply does not come back).

use std::collections::HashMap;

use hnsw_rs::prelude::{Distance, Hnsw};

/// Links per node and layer (HNSW's M): 16 is the usual balance of recall,
/// memory and insert speed for a few hundred dimensions.
const LINKS: usize = 16;

/// Candidates kept while inserting (ef_construction).
const EF_CONSTRUCTION: usize = 128;

/// Candidates kept while searching (ef), at least; more for larger `k`.
/// Measured: recall@10 ≥ 0.95 over 100,000 MiniLM-sized vectors
/// (`cargo bench -p baton-continuity --bench memory`).
const EF_SEARCH: usize = 96;

/// HNSW's layer cap; 16 layers hold far more than a workspace's memories.
const MAX_LAYERS: usize = 16;

/// Above this many inserts at once the index inserts on all cores.
const PARALLEL_FROM: usize = 256;

/// One minus the dot product, for unit vectors (cosine distance). Written
/// here rather than taken from the crate, whose version asserts that
/// rounding never pushes a dot product past 1.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// The dot product, in eight independent lanes so the compiler vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = a.len().min(b.len()) / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

/// Scales `vector` to unit length in place; `false` for a zero vector,
/// which has no direction to compare.
pub fn normalize(vector: &mut [f32]) -> bool {
    let norm = dot(vector, vector).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return false;
    }
    for x in vector.iter_mut() {
        *x /= norm;
    }
    true
}

/// A memory id and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: String,
    pub similarity: f32,
}

/// The approximate index of one workspace and model.
pub struct VectorIndex {
    graph: Hnsw<'static, f32, UnitDot>,
    dimensions: usize,
    /// Node number → memory id; a node whose memory got a newer vector is
    /// `None` and filtered out of answers.
    nodes: Vec<Option<String>>,
    /// Memory id → its current node.
    current: HashMap<String, usize>,
    /// The highest store `seq` inserted.
    seen: i64,
}

impl VectorIndex {
    /// An empty index for vectors of `dimensions`, sized for `expected`.
    pub fn new(dimensions: usize, expected: usize) -> VectorIndex {
        VectorIndex {
            graph: Hnsw::new(
                LINKS,
                expected.max(1024),
                MAX_LAYERS,
                EF_CONSTRUCTION,
                UnitDot,
            ),
            dimensions,
            nodes: Vec::with_capacity(expected),
            current: HashMap::with_capacity(expected),
            seen: 0,
        }
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The highest store `seq` this index holds.
    pub fn seen(&self) -> i64 {
        self.seen
    }

    /// How many memories it answers for.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// Whether the memory has a vector here.
    pub fn holds(&self, id: &str) -> bool {
        self.current.contains_key(id)
    }

    /// Nodes whose memory has a newer vector: the index is rebuilt once
    /// they are a large share.
    pub fn stale(&self) -> usize {
        self.nodes.len() - self.current.len()
    }

    /// Adds (or replaces) vectors, each `(seq, id, unit vector)`. Vectors
    /// of another length are skipped and counted in the result.
    pub fn insert(&mut self, vectors: Vec<(i64, String, Vec<f32>)>) -> usize {
        let mut skipped = 0;
        let mut batch: Vec<(Vec<f32>, usize)> = Vec::with_capacity(vectors.len());
        for (seq, id, values) in vectors {
            self.seen = self.seen.max(seq);
            if values.len() != self.dimensions {
                skipped += 1;
                continue;
            }
            let node = self.nodes.len();
            if let Some(old) = self.current.insert(id.clone(), node) {
                self.nodes[old] = None;
            }
            self.nodes.push(Some(id));
            batch.push((values, node));
        }
        if batch.len() >= PARALLEL_FROM {
            let items: Vec<(&[f32], usize)> = batch
                .iter()
                .map(|(v, node)| (v.as_slice(), *node))
                .collect();
            self.graph.parallel_insert_slice(&items);
        } else {
            for (values, node) in &batch {
                self.graph.insert_slice((values, *node));
            }
        }
        skipped
    }

    /// Forgets a memory: it is never answered again.
    pub fn remove(&mut self, id: &str) {
        if let Some(node) = self.current.remove(id) {
            self.nodes[node] = None;
        }
    }

    /// The `k` nearest memories to the unit vector `query`, nearest first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        if k == 0 || self.current.is_empty() || query.len() != self.dimensions {
            return Vec::new();
        }
        let ef = EF_SEARCH.max(2 * k);
        let live = |node: &usize| self.nodes.get(*node).is_some_and(Option::is_some);
        let found = if self.stale() == 0 {
            self.graph.search(query, k, ef)
        } else {
            self.graph.search_filter(query, k, ef, Some(&live))
        };
        found
            .into_iter()
            .filter_map(|n| {
                let id = self.nodes.get(n.d_id)?.clone()?;
                Some(Neighbour {
                    id,
                    similarity: 1.0 - n.distance,
                })
            })
            .collect()
    }
}

/// The exact `k` nearest of `vectors` to `query` by cosine similarity,
/// nearest first: the yardstick for the index's recall.
pub fn exact_nearest<'a>(
    query: &[f32],
    vectors: impl IntoIterator<Item = (&'a str, &'a [f32])>,
    k: usize,
) -> Vec<Neighbour> {
    let mut scored: Vec<Neighbour> = vectors
        .into_iter()
        .map(|(id, v)| Neighbour {
            id: id.to_owned(),
            similarity: dot(query, v),
        })
        .collect();
    scored.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    scored.truncate(k);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(values: &[f32]) -> Vec<f32> {
        let mut v = values.to_vec();
        assert!(normalize(&mut v));
        v
    }

    #[test]
    fn dot_matches_the_plain_sum_for_any_length() {
        for len in [0, 1, 7, 8, 9, 384] {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32 * 0.25).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() <= plain.abs() * 1e-5 + 1e-5);
        }
        assert!(!normalize(&mut [0.0, 0.0]));
    }

    #[test]
    fn nearest_first_and_replaced_or_removed_vectors_never_answer() {
        let mut index = VectorIndex::new(2, 8);
        index.insert(vec![
            (1, "east".into(), unit(&[1.0, 0.0])),
            (2, "north".into(), unit(&[0.0, 1.0])),
            (3, "north-east".into(), unit(&[1.0, 1.0])),
            (4, "short".into(), vec![1.0]),
        ]);
        assert_eq!(index.len(), 3);
        assert_eq!(index.seen(), 4);
        let got = index.search(&unit(&[1.0, 0.1]), 2);
        assert_eq!(got[0].id, "east");
        assert_eq!(got[1].id, "north-east");
        assert!((got[0].similarity - 0.995).abs() < 0.01);

        index.insert(vec![(5, "east".into(), unit(&[-1.0, 0.0]))]);
        assert_eq!(index.stale(), 1);
        let got = index.search(&unit(&[1.0, 0.1]), 3);
        assert_eq!(got.iter().filter(|n| n.id == "east").count(), 1);
        assert_eq!(got.last().unwrap().id, "east", "its new vector points away");

        index.remove("north-east");
        let got = index.search(&unit(&[1.0, 1.0]), 3);
        assert!(got.iter().all(|n| n.id != "north-east"));
        assert!(index.search(&[1.0], 3).is_empty(), "wrong length");
    }

    #[test]
    fn exact_nearest_orders_by_similarity() {
        let a = unit(&[1.0, 0.0]);
        let b = unit(&[0.0, 1.0]);
        let got = exact_nearest(
            &unit(&[0.2, 1.0]),
            [("a", a.as_slice()), ("b", b.as_slice())],
            1,
        );
        assert_eq!(got[0].id, "b");
    }
}
