//! `search`: ripgrep's engine over the workspace. The walk is parallel and
//! honours `.gitignore`, `.ignore` and hidden files as `rg` does; each walker
//! thread keeps one searcher and writes `path:line:text` straight into a
//! per-file buffer; the buffers are sorted by path at the end so the answer
//! does not depend on thread timing.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;
use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::overrides::OverrideBuilder;
use ignore::{WalkBuilder, WalkState};
use serde::Deserialize;
use serde_json::json;

use crate::error::ToolError;
use crate::tool::{CallInfo, Effect, Tool, ToolContext, ToolOutput, parse_args, run_blocking};

const NAME: &str = "search";
/// Most context lines around a match.
pub const MAX_CONTEXT_LINES: usize = 10;
/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 4096;
/// Most globs in one call.
pub const MAX_GLOBS: usize = 32;
/// A longer matching line is cut to this many bytes (minified files would
/// otherwise fill the model's context with one line).
pub const MAX_LINE_BYTES: usize = 1024;

/// Searches file contents in the workspace.
#[derive(Debug, Default, Clone, Copy)]
pub struct SearchTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    pattern: String,
    #[serde(default)]
    fixed_strings: bool,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default = "dot")]
    path: String,
    #[serde(default)]
    glob: Vec<String>,
    #[serde(default)]
    context: usize,
    max_results: Option<usize>,
}

fn dot() -> String {
    ".".into()
}

/// The matching lines of one file, already formatted.
struct FileHits {
    path: String,
    text: String,
    /// Byte offset in `text` just after each match line, to cut at a match count.
    match_ends: Vec<usize>,
}

/// What every walker thread shares.
struct Shared<'a> {
    root: &'a Path,
    matcher: RegexMatcher,
    searcher: SearcherBuilder,
    max_results: usize,
    max_file_bytes: u64,
    deadline: Instant,
    matches: AtomicUsize,
    stop: AtomicBool,
    timed_out: AtomicBool,
    too_large: AtomicUsize,
    unreadable: AtomicUsize,
    hits: Mutex<Vec<FileHits>>,
}

/// Formats one file's matches and context lines as they are found.
struct HitSink<'s, 'p> {
    shared: &'s Shared<'s>,
    full_path: &'p Path,
    hits: Option<FileHits>,
}

impl HitSink<'_, '_> {
    fn push_line(&mut self, separator: char, line_number: Option<u64>, bytes: &[u8]) {
        let hits = self.hits.get_or_insert_with(|| FileHits {
            path: self
                .full_path
                .strip_prefix(self.shared.root)
                .unwrap_or(self.full_path)
                .to_string_lossy()
                .into_owned(),
            text: String::new(),
            match_ends: Vec::new(),
        });
        let text = &mut hits.text;
        text.push_str(&hits.path);
        text.push(separator);
        if let Some(n) = line_number {
            text.push_str(itoa_u64(n, &mut [0u8; 20]));
        }
        text.push(separator);
        let mut line = bytes;
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if line.len() <= MAX_LINE_BYTES {
            push_lossy(text, line);
        } else {
            // Show a window around the match, so the model sees what matched.
            let found = self.shared.matcher.find(line).ok().flatten();
            let start = found.map_or(0, |m| m.start().saturating_sub(MAX_LINE_BYTES / 4));
            let end = (start + MAX_LINE_BYTES).min(line.len());
            if start > 0 {
                text.push_str("[…] ");
            }
            push_lossy(text, &line[start..end]);
            text.push_str(&format!(
                " [… line of {} bytes cut to {MAX_LINE_BYTES}]",
                line.len()
            ));
        }
        text.push('\n');
    }
}

/// Appends `bytes` as text, replacing invalid UTF-8 (a cut may split a character).
fn push_lossy(text: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => text.push_str(s),
        Err(_) => text.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Writes `n` in decimal into `buf` without allocating.
fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

impl Sink for HitSink<'_, '_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, std::io::Error> {
        self.push_line(':', mat.line_number(), mat.bytes());
        if let Some(hits) = &mut self.hits {
            hits.match_ends.push(hits.text.len());
        }
        // One match past the limit proves there are more than the caller
        // sees; `render` cuts back to the limit.
        let seen = self.shared.matches.fetch_add(1, Ordering::Relaxed) + 1;
        if seen > self.shared.max_results {
            self.shared.stop.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, std::io::Error> {
        self.push_line('-', ctx.line_number(), ctx.bytes());
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, std::io::Error> {
        if let Some(hits) = &mut self.hits {
            hits.text.push_str("--\n");
        }
        Ok(true)
    }
}

impl Shared<'_> {
    /// Searches one file found by the walk. The size limit is enforced
    /// while reading rather than by a `stat` per file, which on a tree of
    /// 100k small files is a visible share of the time.
    fn search_file(&self, searcher: &mut Searcher, path: &Path) {
        let Ok(file) = File::open(path) else {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut reader = CappedReader {
            inner: file,
            remaining: self.max_file_bytes.saturating_add(1),
        };
        let mut sink = HitSink {
            shared: self,
            full_path: path,
            hits: None,
        };
        let result = searcher.search_reader(&self.matcher, &mut reader, &mut sink);
        let hits = sink.hits;
        if reader.remaining == 0 {
            // Over the limit: what it matched is dropped, as if never searched.
            if let Some(hits) = &hits {
                self.matches
                    .fetch_sub(hits.match_ends.len(), Ordering::Relaxed);
            }
            self.too_large.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if result.is_err() {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(hits) = hits {
            self.hits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(hits);
        }
    }
}

/// Reads at most `remaining` bytes; reaching 0 means the file is larger
/// than the limit (one byte more than the limit is allowed for).
struct CappedReader {
    inner: File,
    remaining: u64,
}

impl Read for CappedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let room = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn build_matcher(args: &SearchArgs) -> Result<RegexMatcher, ToolError> {
    RegexMatcherBuilder::new()
        .case_insensitive(args.case_insensitive)
        .fixed_strings(args.fixed_strings)
        .line_terminator(Some(b'\n'))
        .build(&args.pattern)
        .map_err(|e| ToolError::invalid(NAME, format!("the pattern is not a valid regex: {e}")))
}

fn check_args(args: &SearchArgs, ctx: &ToolContext) -> Result<usize, ToolError> {
    if args.pattern.is_empty() {
        return Err(ToolError::invalid(NAME, "the pattern is empty"));
    }
    if args.pattern.len() > MAX_PATTERN_BYTES {
        return Err(ToolError::invalid(
            NAME,
            format!("the pattern is longer than {MAX_PATTERN_BYTES} bytes"),
        ));
    }
    if args.context > MAX_CONTEXT_LINES {
        return Err(ToolError::invalid(
            NAME,
            format!(
                "context must be 0 to {MAX_CONTEXT_LINES}, not {}",
                args.context
            ),
        ));
    }
    if args.glob.len() > MAX_GLOBS {
        return Err(ToolError::invalid(
            NAME,
            format!("at most {MAX_GLOBS} globs"),
        ));
    }
    let limit = ctx.limits.max_results;
    match args.max_results {
        None => Ok(limit),
        Some(n) if (1..=limit).contains(&n) => Ok(n),
        Some(n) => Err(ToolError::invalid(
            NAME,
            format!("max_results must be 1 to {limit}, not {n}"),
        )),
    }
}

fn search(args: SearchArgs, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
    let max_results = check_args(&args, ctx)?;
    let matcher = build_matcher(&args)?;
    let start: PathBuf = ctx.workspace.resolve_existing(&args.path)?;
    let root = ctx.workspace.root();
    let mut overrides = OverrideBuilder::new(root);
    for glob in &args.glob {
        overrides
            .add(glob)
            .map_err(|e| ToolError::invalid(NAME, format!("bad glob `{glob}`: {e}")))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| ToolError::invalid(NAME, format!("bad globs: {e}")))?;
    let mut searcher = SearcherBuilder::new();
    searcher
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\x00'))
        .before_context(args.context)
        .after_context(args.context);
    let shared = Shared {
        root,
        matcher,
        searcher,
        max_results,
        max_file_bytes: ctx.limits.max_file_bytes,
        deadline: Instant::now() + ctx.limits.timeout,
        matches: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        timed_out: AtomicBool::new(false),
        too_large: AtomicUsize::new(0),
        unreadable: AtomicUsize::new(0),
        hits: Mutex::new(Vec::new()),
    };
    let context = args.context > 0;
    WalkBuilder::new(&start)
        .hidden(true)
        .require_git(false)
        .follow_links(false)
        .overrides(overrides)
        .build_parallel()
        .run(|| {
            let shared = &shared;
            let mut searcher = shared.searcher.build();
            Box::new(move |entry| {
                if shared.stop.load(Ordering::Relaxed) {
                    return WalkState::Quit;
                }
                if Instant::now() >= shared.deadline {
                    shared.timed_out.store(true, Ordering::Relaxed);
                    shared.stop.store(true, Ordering::Relaxed);
                    return WalkState::Quit;
                }
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(_) => {
                        shared.unreadable.fetch_add(1, Ordering::Relaxed);
                        return WalkState::Continue;
                    }
                };
                if entry.file_type().is_some_and(|t| t.is_file()) {
                    shared.search_file(&mut searcher, entry.path());
                }
                WalkState::Continue
            })
        });
    Ok(render(shared, max_results, context, ctx))
}

/// Sorts the per-file results by path, cuts them at `max_results` matches
/// and adds notes for whatever limit was met. With context lines, files are
/// separated by `--`, as ripgrep does.
fn render(shared: Shared<'_>, max_results: usize, context: bool, ctx: &ToolContext) -> ToolOutput {
    let mut files = shared.hits.into_inner().unwrap_or_else(|p| p.into_inner());
    files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::with_capacity(files.iter().map(|f| f.text.len() + 3).sum());
    let mut shown_matches = 0usize;
    let mut shown_files = 0usize;
    for file in &files {
        if shown_matches == max_results {
            break;
        }
        let room = max_results - shown_matches;
        let (text, count) = if file.match_ends.len() > room {
            (&file.text[..file.match_ends[room - 1]], room)
        } else {
            (file.text.as_str(), file.match_ends.len())
        };
        if context && shown_files > 0 {
            out.push_str("--\n");
        }
        out.push_str(text);
        shown_matches += count;
        shown_files += 1;
    }
    let limited = shared.stop.load(Ordering::Relaxed) && !shared.timed_out.load(Ordering::Relaxed);
    if shown_matches == 0 {
        out.push_str("no matches\n");
    }
    if limited {
        out.push_str(&format!(
            "[stopped at {max_results} matches; narrow the pattern, path or globs to see the rest]\n"
        ));
    }
    let timed_out = shared.timed_out.load(Ordering::Relaxed);
    if timed_out {
        out.push_str(&format!(
            "[search stopped at its time limit of {} s; results are partial]\n",
            ctx.limits.timeout.as_secs_f64()
        ));
    }
    let too_large = shared.too_large.load(Ordering::Relaxed);
    if too_large > 0 {
        out.push_str(&format!(
            "[skipped {too_large} files larger than {} bytes]\n",
            ctx.limits.max_file_bytes
        ));
    }
    let unreadable = shared.unreadable.load(Ordering::Relaxed);
    if unreadable > 0 {
        out.push_str(&format!("[{unreadable} paths could not be read]\n"));
    }
    let match_word = if shown_matches == 1 {
        "match"
    } else {
        "matches"
    };
    let file_word = if shown_files == 1 { "file" } else { "files" };
    let summary = format!("{shown_matches} {match_word} in {shown_files} {file_word}");
    ToolOutput::new(
        out,
        summary,
        limited || timed_out,
        ctx.limits.max_output_bytes,
    )
}

impl Tool for SearchTool {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: NAME.into(),
            description: Some(
                "Search file contents in the workspace with a regex (Rust syntax) or a literal \
                 string, like ripgrep: skips files ignored by .gitignore/.ignore, hidden files and \
                 binary files. Prints `path:line:text` per matching line (context lines as \
                 `path-line-text`), sorted by path."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regex, or a literal with fixed_strings."},
                    "fixed_strings": {"type": "boolean", "description": "Treat pattern as a literal string (default false)."},
                    "case_insensitive": {"type": "boolean", "description": "Ignore case (default false)."},
                    "path": {"type": "string", "description": "File or directory to search, relative to the workspace root (default \".\")."},
                    "glob": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_GLOBS,
                             "description": "Only search files matching these globs, e.g. \"*.rs\"; a glob starting with ! excludes, e.g. \"!tests/**\"."},
                    "context": {"type": "integer", "minimum": 0, "maximum": MAX_CONTEXT_LINES, "description": "Lines of context before and after each match (default 0)."},
                    "max_results": {"type": "integer", "minimum": 1, "description": "Stop after this many matching lines."}
                },
                "required": ["pattern"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &serde_json::Value) -> Effect {
        Effect::Read
    }

    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError> {
        Ok(parse_args::<SearchArgs>(NAME, args.clone())?.path)
    }

    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        _call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        run_blocking::<SearchArgs, _>(NAME, args, ctx, search)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itoa_writes_decimal() {
        let mut buf = [0u8; 20];
        assert_eq!(itoa_u64(0, &mut buf), "0");
        assert_eq!(itoa_u64(1234567890, &mut buf), "1234567890");
        assert_eq!(itoa_u64(u64::MAX, &mut buf), "18446744073709551615");
    }
}
