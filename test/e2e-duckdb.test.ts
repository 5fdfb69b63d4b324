import { defineE2E } from './helpers/e2e-suite.js';

defineE2E('duckdb');
