// Runs a command as a child process that is killed if it grows past a memory limit or outlives a time limit, so a
// test of hostile input (/dev/zero, a FIFO) fails instead of taking the machine or the suite down with it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface GuardedResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Highest resident set size seen, in bytes (sampled every 20 ms). */
  peakRss: number;
  /** Killed for passing the memory or the time limit. */
  killed: false | 'memory' | 'time';
}

function rssOf(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function runGuarded(command: string, args: string[], maxRssBytes: number, timeoutMs = 30_000): Promise<GuardedResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRss = 0;
    let killed: GuardedResult['killed'] = false;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const kill = (why: 'memory' | 'time') => {
      killed = why;
      child.kill('SIGKILL');
    };
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssOf(child.pid!));
      if (peakRss > maxRssBytes) kill('memory');
    }, 20);
    const timer = setTimeout(() => kill('time'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ code, stdout, stderr, peakRss, killed });
    });
  });
}
