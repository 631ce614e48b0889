// A NATS server with JetStream for the cluster-mode UI tests: Debian's `nats-server` on a free
// loopback port with a temporary store directory, killed at will (a lost stream).
//
// Env: NATS_SERVER names the binary (else it is looked for on PATH, then in /usr/sbin).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './harness.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The nats-server binary, or null when none is installed (or NATS_SERVER names none). */
export function natsServerBin() {
  const candidates = process.env.NATS_SERVER
    ? [process.env.NATS_SERVER]
    : [...(process.env.PATH || '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'nats-server')),
      '/usr/sbin/nats-server', '/usr/local/bin/nats-server'];
  return candidates.find((p) => {
    try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
  }) || null;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Spawns nats-server on port with its store under dir; resolves once it accepts connections. */
async function launch(bin, port, dir) {
  const child = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', path.join(dir, 'js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, output: '', exited: null };
  child.stdout.on('data', (d) => { proc.output += d; });
  child.stderr.on('data', (d) => { proc.output += d; });
  child.on('exit', (code, signal) => { proc.exited = { code, signal }; });
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && !proc.exited) {
    if (await accepts(port)) return proc;
    await sleep(100);
  }
  if (!proc.exited) child.kill('SIGKILL');
  throw new Error(`nats-server did not start on port ${port}: ${proc.exited ? `exited ${JSON.stringify(proc.exited)}` : 'timeout'}\n${proc.output}`);
}

/** Starts one JetStream server on a free loopback port with a fresh store directory. */
export async function startNats() {
  const bin = natsServerBin();
  if (!bin) throw new Error('nats-server not found: apt-get install -y nats-server, or set NATS_SERVER');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mltrace-ui-nats-'));
  let proc = null;
  let port = null;
  let lastError = null;
  for (let attempt = 0; attempt < 3 && !proc; attempt += 1) {
    port = await freePort();
    try { proc = await launch(bin, port, dir); } catch (e) { lastError = e; }
  }
  if (!proc) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    output: () => proc.output,
    /** Kills the server at once (SIGKILL: a lost machine) and waits until it is gone. */
    async kill() {
      if (!proc.exited) {
        proc.child.kill('SIGKILL');
        const t = Date.now();
        while (!proc.exited && Date.now() - t < 5000) await sleep(50);
      }
    },
    /** Starts the server again on the same port and store (the machine is back). */
    async restart() {
      await this.kill();
      proc = await launch(bin, port, dir);
    },
    /** Kills the server if still running and removes its store. */
    async stop() {
      await this.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
