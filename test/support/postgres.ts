// A real PostgreSQL server for tests: initdb into a temp folder, started on a free port on 127.0.0.1 as the
// `postgres` user when the tests run as root (postgres refuses root), stopped and removed by stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';

export interface Postgres {
  /** postgres://avi@127.0.0.1:PORT/postgres */
  url: string;
  /** A fresh database on the server, as a URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server, keeping its data: the store is "down" until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The folder with initdb and postgres: PG_BIN, or the newest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string | undefined {
  if (process.env.PG_BIN && existsSync(path.join(process.env.PG_BIN, 'postgres'))) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : undefined;
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  return postgresBinDir() ? undefined : 'PostgreSQL binaries not found (/usr/lib/postgresql/*/bin or PG_BIN); .ci/run installs them';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function identity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as');
  return { uid, gid: id('-g') };
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(postgresMissing());
  const user = identity();
  const dir = mkdtempSync(path.join(tmpdir(), 'avi-pg-'));
  const data = path.join(dir, 'data');
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'avi', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...user, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const url = `postgres://avi@127.0.0.1:${port}/postgres`;
  let server: ChildProcess | undefined;
  let log = '';
  const halt = async () => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGINT');
    // A fast shutdown still checkpoints; on a busy disk, give it 10 s, then stop at once.
    const immediate = setTimeout(() => server?.kill('SIGQUIT'), 10_000);
    await exited;
    clearTimeout(immediate);
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  const run = async () => {
    server = spawn(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=50',
      // The server's own durability is not under test here (the record's is): no fsync, for speed on a shared disk.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'], {
      ...user,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    server.stderr!.on('data', (c) => (log += c));
    for (const started = Date.now(); ; ) {
      const client = new Client({ connectionString: url });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        if (server.exitCode !== null || Date.now() - started > 30_000) {
          await stop();
          throw new Error(`PostgreSQL did not start: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await run();
  return {
    pause: halt,
    resume: run,
    url,
    async createDatabase(name) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    stop,
  };
}
