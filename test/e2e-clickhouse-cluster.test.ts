import { test } from 'node:test';
import { defineE2E } from './helpers/e2e-suite.js';

// Runs when RAKUTEN_TEST_WAREHOUSES names it (.ci/run names every warehouse).
if ((process.env.RAKUTEN_TEST_WAREHOUSES ?? '').split(',').includes('clickhouse-cluster')) defineE2E('clickhouse-cluster');
else test('end to end on clickhouse-cluster', { skip: 'not in RAKUTEN_TEST_WAREHOUSES' }, () => undefined);
