#!/usr/bin/env node
/** dist/main.js, what `node` runs: the provider bundle compiled with its code cache (provider-cache.ts). */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileProvider } from './provider-cache.js';

compileProvider(dirname(fileURLToPath(import.meta.url))).run();
