-- Retention (issue 6): ended runs are deleted, oldest first, once they are
-- older than `[engine] retain_days`; their tasks, edges and events go with
-- them (ON DELETE CASCADE). A running run has no `finished_at`.
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at)
    WHERE finished_at IS NOT NULL;
