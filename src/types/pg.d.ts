// The part of pg's API this package uses (pg ships no types; see better-sqlite3.d.ts).
declare module 'pg' {
  interface QueryResult {
    rows: Array<Record<string, any>>;
    rowCount: number | null;
  }
  interface Queryable {
    query(sql: string, params?: unknown[]): Promise<QueryResult>;
  }
  export interface PoolClient extends Queryable {
    release(err?: Error | boolean): void;
  }
  export class Pool implements Queryable {
    constructor(config: { connectionString: string; max?: number; connectionTimeoutMillis?: number; idleTimeoutMillis?: number });
    query(sql: string, params?: unknown[]): Promise<QueryResult>;
    connect(): Promise<PoolClient>;
    on(event: 'error', listener: (err: Error) => void): this;
    end(): Promise<void>;
  }
  export class Client implements Queryable {
    constructor(config: { connectionString: string });
    connect(): Promise<void>;
    on(event: 'error', listener: (err: Error) => void): this;
    query(sql: string, params?: unknown[]): Promise<QueryResult>;
    end(): Promise<void>;
  }
}
