import { test } from 'node:test';
import { defineE2E } from './helpers/e2e-suite.js';

// Runs when RAKUTEN_TEST_WAREHOUSES names it (.ci/run names every warehouse).
if ((process.env.RAKUTEN_TEST_WAREHOUSES ?? '').split(',').includes('postgres')) defineE2E('postgres');
else test('end to end on postgres', { skip: 'not in RAKUTEN_TEST_WAREHOUSES' }, () => undefined);
