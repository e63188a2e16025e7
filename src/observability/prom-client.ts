/** prom-client, loaded after its OpenTelemetry API has been replaced by a stand-in (../stand-ins.ts says why). */
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';
import { installStandIn, OPENTELEMETRY_STAND_IN } from '../stand-ins.js';

installStandIn('prom-client', '@opentelemetry/api', OPENTELEMETRY_STAND_IN);
const prom = createRequire(import.meta.url)('prom-client') as typeof Prom;

export const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = prom;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export type Registry = Prom.Registry;
