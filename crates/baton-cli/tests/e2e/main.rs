//! End to end: the real `baton` binary, started as a user would, in front
//! of the scripted model server, on SQLite and on PostgreSQL.

mod agent;
mod baton;
mod chaos;
mod cli;
mod continuity;
mod mcp_sdk;
mod openai_sdk;
mod server;
mod workflow;
