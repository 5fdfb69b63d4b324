import { defineE2E } from './helpers/e2e-suite.js';

// The embedded default always runs.
defineE2E('duckdb');
