//! Throwaway PostgreSQL clusters for tests, examples and benchmarks.
