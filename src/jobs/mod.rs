//! Scheduled writer jobs: retention cleanup and backups (see docs/operations.md).
