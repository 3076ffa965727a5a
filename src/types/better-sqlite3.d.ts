// The part of better-sqlite3's API this package uses (the package ships no types; @types would add a
// dependency to the shared lockfile for a dozen lines).
declare module 'better-sqlite3' {
  namespace Database {
    interface Statement {
      run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      pluck(on?: boolean): Statement;
    }
    interface Transaction<F extends (...args: any[]) => any> {
      (...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
    }
    interface Database {
      prepare(sql: string): Statement;
      exec(sql: string): Database;
      pragma(sql: string, options?: { simple?: boolean }): unknown;
      transaction<F extends (...args: any[]) => any>(fn: F): Transaction<F>;
      close(): void;
    }
  }
  interface DatabaseConstructor {
    new (file: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }): Database.Database;
  }
  const Database: DatabaseConstructor;
  export = Database;
}
