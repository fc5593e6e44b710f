//! The in-process approximate nearest-neighbour index over memory vectors,
//! so that neither SQLite nor PostgreSQL needs a vector extension. One
//! index holds one workspace's vectors of one embedding model; it catches
//! up from the store by `seq` and answers with memory ids, which the caller
//! reads back from the store (so a memory another process forgot simply
//! does not come back).
//!
//! Each vector is kept twice: scalar-quantized to 8 bits (one scale per
//! vector) and as it came. A search scans the 8-bit codes (a quarter of the
//! memory traffic of `f32`, integer multiply-adds the compiler vectorises),
//! keeps the best [`RERANK_FACTOR`]` × k` candidates and re-ranks those by
//! the exact cosine. There is nothing to build: inserts and removals are
//! immediate, so a one-shot `baton memory search` costs what reading the
//! vectors costs. An HNSW graph (`hnsw_rs`) was measured first and dropped:
//! over 100,000 text-like vectors it needed about two minutes to build on
//! two cores and still missed recall@10 of 0.95 (BENCHMARKS.md).

use std::collections::HashMap;

/// Candidates re-ranked exactly, per result wanted.
pub const RERANK_FACTOR: usize = 8;

/// Candidates re-ranked at least, whatever `k`.
const MIN_RERANK: usize = 64;

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

/// The integer dot product of two 8-bit codes, in sixteen lanes.
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let chunks = a.len().min(b.len()) / 16 * 16;
    for (x, y) in a[..chunks]
        .chunks_exact(16)
        .zip(b[..chunks].chunks_exact(16))
    {
        // A product of two codes fits in 16 bits (|c| <= 128): 16-bit
        // multiplies, widened to add, are what vectorises well.
        for i in 0..16 {
            lanes[i] += i32::from(i16::from(x[i]) * i16::from(y[i]));
        }
    }
    let tail: i32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    lanes.iter().sum::<i32>() + tail
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

/// `vector` as 8-bit codes and the scale that turns them back.
fn quantize(vector: &[f32], codes: &mut Vec<i8>) -> f32 {
    let largest = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    codes.extend(vector.iter().map(|x| (x / scale).round() as i8));
    scale
}

/// A memory id and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub id: String,
    pub similarity: f32,
}

/// The index of one workspace and model.
pub struct VectorIndex {
    dimensions: usize,
    /// Row → memory id.
    ids: Vec<String>,
    /// Row-major 8-bit codes, `dimensions` per row.
    codes: Vec<i8>,
    /// Each row's quantization scale.
    scales: Vec<f32>,
    /// Row-major unit vectors, for the exact re-ranking.
    values: Vec<f32>,
    /// Memory id → row.
    rows: HashMap<String, usize>,
    /// The highest store `seq` inserted.
    seen: i64,
}

impl VectorIndex {
    /// An empty index for vectors of `dimensions`, sized for `expected`.
    pub fn new(dimensions: usize, expected: usize) -> VectorIndex {
        VectorIndex {
            dimensions,
            ids: Vec::with_capacity(expected),
            codes: Vec::with_capacity(expected * dimensions),
            scales: Vec::with_capacity(expected),
            values: Vec::with_capacity(expected * dimensions),
            rows: HashMap::with_capacity(expected),
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
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the memory has a vector here.
    pub fn holds(&self, id: &str) -> bool {
        self.rows.contains_key(id)
    }

    /// Adds (or replaces) vectors, each `(seq, id, unit vector)`. Vectors
    /// of another length are skipped and counted in the result.
    pub fn insert(&mut self, vectors: Vec<(i64, String, Vec<f32>)>) -> usize {
        let mut skipped = 0;
        for (seq, id, vector) in vectors {
            self.seen = self.seen.max(seq);
            if vector.len() != self.dimensions {
                skipped += 1;
                continue;
            }
            self.remove(&id);
            let scale = quantize(&vector, &mut self.codes);
            self.scales.push(scale);
            self.values.extend_from_slice(&vector);
            self.rows.insert(id.clone(), self.ids.len());
            self.ids.push(id);
        }
        skipped
    }

    /// Forgets a memory: it is never answered again. The last row moves
    /// into its place, so the index stays dense.
    pub fn remove(&mut self, id: &str) {
        let Some(row) = self.rows.remove(id) else {
            return;
        };
        let last = self.ids.len() - 1;
        let d = self.dimensions;
        if row != last {
            self.codes.copy_within(last * d..(last + 1) * d, row * d);
            self.values.copy_within(last * d..(last + 1) * d, row * d);
            self.scales[row] = self.scales[last];
            self.ids.swap(row, last);
            self.rows.insert(self.ids[row].clone(), row);
        }
        self.ids.pop();
        self.scales.pop();
        self.codes.truncate(last * d);
        self.values.truncate(last * d);
    }

    /// The `k` nearest memories to the unit vector `query`, nearest first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        if k == 0 || self.ids.is_empty() || query.len() != self.dimensions {
            return Vec::new();
        }
        let d = self.dimensions;
        let mut code = Vec::with_capacity(d);
        let query_scale = quantize(query, &mut code);
        let mut scored = scan(&self.codes, &self.scales, &code, query_scale);
        let keep = (k * RERANK_FACTOR).max(MIN_RERANK).min(scored.len());
        if keep < scored.len() {
            scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(keep);
        }
        let mut exact: Vec<Neighbour> = scored
            .into_iter()
            .map(|(_, row)| {
                let row = row as usize;
                Neighbour {
                    id: self.ids[row].clone(),
                    similarity: dot(query, &self.values[row * d..(row + 1) * d]),
                }
            })
            .collect();
        exact.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        exact.truncate(k);
        exact
    }
}

/// Every row's approximate similarity to the query's code, with its row.
/// Uses AVX2 where the processor has it (the same loop, compiled for it:
/// about four times the integer throughput of the baseline x86-64 build).
fn scan(codes: &[i8], scales: &[f32], query: &[i8], query_scale: f32) -> Vec<(f32, u32)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor was just checked to support AVX2.
        return unsafe { scan_avx2(codes, scales, query, query_scale) };
    }
    scan_rows(codes, scales, query, query_scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline(never)]
fn scan_avx2(codes: &[i8], scales: &[f32], query: &[i8], query_scale: f32) -> Vec<(f32, u32)> {
    scan_rows(codes, scales, query, query_scale)
}

/// A plain loop, not an iterator chain: closures do not take on the
/// caller's target features, and the dot product must.
#[inline(always)]
fn scan_rows(codes: &[i8], scales: &[f32], query: &[i8], query_scale: f32) -> Vec<(f32, u32)> {
    let mut scored = Vec::with_capacity(scales.len());
    for (row, (row_codes, scale)) in codes.chunks_exact(query.len()).zip(scales).enumerate() {
        scored.push((
            dot_i8(query, row_codes) as f32 * scale * query_scale,
            row as u32,
        ));
    }
    scored
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
    fn dots_match_the_plain_sums_for_any_length() {
        for len in [0, 1, 7, 8, 9, 17, 384] {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32 * 0.25).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() <= plain.abs() * 1e-5 + 1e-5);
            let p: Vec<i8> = (0..len).map(|i| (i % 200) as i8).collect();
            let q: Vec<i8> = (0..len).map(|i| -((i % 100) as i8)).collect();
            let plain: i32 = p
                .iter()
                .zip(&q)
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
            assert_eq!(dot_i8(&p, &q), plain);
        }
        assert!(!normalize(&mut [0.0, 0.0]));
    }

    #[test]
    fn quantized_codes_come_back_within_half_a_step() {
        let vector = unit(&[0.3, -0.9, 0.05, 0.0, 0.2]);
        let mut codes = Vec::new();
        let scale = quantize(&vector, &mut codes);
        for (x, c) in vector.iter().zip(&codes) {
            assert!((x - f32::from(*c) * scale).abs() <= scale / 2.0 + 1e-7);
        }
        assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
    }

    #[test]
    fn nearest_first_and_replaced_or_removed_vectors_never_answer() {
        let mut index = VectorIndex::new(2, 8);
        let skipped = index.insert(vec![
            (1, "east".into(), unit(&[1.0, 0.0])),
            (2, "north".into(), unit(&[0.0, 1.0])),
            (3, "north-east".into(), unit(&[1.0, 1.0])),
            (4, "short".into(), vec![1.0]),
        ]);
        assert_eq!(skipped, 1);
        assert_eq!(index.len(), 3);
        assert_eq!(index.seen(), 4);
        let got = index.search(&unit(&[1.0, 0.1]), 2);
        assert_eq!(got[0].id, "east");
        assert_eq!(got[1].id, "north-east");
        assert!((got[0].similarity - 0.995).abs() < 0.01);

        index.insert(vec![(5, "east".into(), unit(&[-1.0, 0.0]))]);
        assert_eq!(index.len(), 3, "replaced, not added");
        let got = index.search(&unit(&[1.0, 0.1]), 3);
        assert_eq!(got.iter().filter(|n| n.id == "east").count(), 1);
        assert_eq!(got.last().unwrap().id, "east", "its new vector points away");

        index.remove("north-east");
        index.remove("nothing");
        assert!(!index.holds("north-east"));
        let got = index.search(&unit(&[1.0, 1.0]), 3);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|n| n.id != "north-east"));
        assert!(index.search(&[1.0], 3).is_empty(), "wrong length");
        index.remove("east");
        index.remove("north");
        assert!(index.is_empty() && index.search(&unit(&[1.0, 0.0]), 1).is_empty());
    }

    #[test]
    fn the_scan_finds_what_exact_search_finds() {
        let mut state = 7u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let vectors: Vec<(String, Vec<f32>)> = (0..2_000)
            .map(|i| {
                (
                    format!("m{i}"),
                    unit(&(0..64).map(|_| next()).collect::<Vec<_>>()),
                )
            })
            .collect();
        let mut index = VectorIndex::new(64, vectors.len());
        index.insert(
            vectors
                .iter()
                .enumerate()
                .map(|(i, (id, v))| (i as i64, id.clone(), v.clone()))
                .collect(),
        );
        let mut found = 0;
        for _ in 0..50 {
            let query = unit(&(0..64).map(|_| next()).collect::<Vec<_>>());
            let exact = exact_nearest(
                &query,
                vectors.iter().map(|(id, v)| (id.as_str(), v.as_slice())),
                10,
            );
            let got = index.search(&query, 10);
            found += exact
                .iter()
                .filter(|e| got.iter().any(|g| g.id == e.id))
                .count();
        }
        assert!(found >= 490, "recall {found}/500");
    }
}
