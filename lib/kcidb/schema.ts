// The part of KCIDB's I/O schema v5.3 (kernelci/kcidb-io, kcidb_io/schema/v05_03.py) that kvm-xen
// writes, as TypeScript types. The whole schema, exported from kcidb-io, is test/data/kcidb-v05.03.schema.json;
// test/kcidb.test.ts validates real output against it.

export const KCIDB_VERSION = { major: 5, minor: 3 } as const;

/** The statuses, highest priority first (the schema's own order). */
export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';

export interface KcidbCheckout {
  id: string;
  origin: string;
  tree_name?: string;
  comment?: string;
  valid?: boolean;
  start_time?: string;
  misc?: Record<string, unknown>;
}

export interface KcidbBuild {
  id: string;
  origin: string;
  checkout_id: string;
  architecture?: string;
  comment?: string;
  status?: KcidbStatus;
  misc?: Record<string, unknown>;
}

export interface KcidbTest {
  id: string;
  origin: string;
  build_id: string;
  path: string;
  status: KcidbStatus;
  comment?: string;
  start_time?: string;
  duration?: number;
  log_excerpt?: string;
  environment?: { comment?: string; misc?: Record<string, unknown> };
  misc?: Record<string, unknown>;
}

export interface KcidbIssue {
  id: string;
  version: number;
  origin: string;
  comment?: string;
  culprit?: { code?: boolean; tool?: boolean; harness?: boolean };
  misc?: Record<string, unknown>;
}

export interface KcidbIncident {
  id: string;
  origin: string;
  issue_id: string;
  issue_version: number;
  test_id?: string;
  present?: boolean;
  comment?: string;
}

export interface KcidbReport {
  version: { major: number; minor: number };
  checkouts: KcidbCheckout[];
  builds: KcidbBuild[];
  tests: KcidbTest[];
  issues: KcidbIssue[];
  incidents: KcidbIncident[];
}
