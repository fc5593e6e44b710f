//! `LocalEmbedder` end to end: refusals of bad model directories and input
//! (tiny fixtures built in a temporary directory), batching and truncation
//! on a tiny random BERT, and the real all-MiniLM-L6-v2 against an
//! independent numpy reference when `BATON_TEST_PYTHON` is set.

mod bad_model;
mod common;
mod real_model;
mod tiny_model;
