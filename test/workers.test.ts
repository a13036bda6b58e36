// The addon in worker threads: a worker terminated while its guest spins in an async run and its racing
// ioctl thread runs, with nothing closed, takes its fds and threads with it and leaves the process
// running (the addon's per-environment clean-up hook stops threads, closes fds, unmaps memory).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

import t from 'tap';

import { kvmOrSkip } from './helpers/kvm';

const WORKERS = 4;
const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;
const threadCount = (): number => fs.readdirSync('/proc/self/task').length;

async function startBusyWorker(): Promise<Worker> {
  const worker = new Worker(path.join(__dirname, 'workers', 'busy-worker.js'));
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return worker;
}

t.test(`${WORKERS} workers terminated mid-run leave no fd or thread behind`, async (t) => {
  if (!kvmOrSkip(t)) return;
  // One worker first, so that lazily started threads of Node's own are there in both counts.
  await (await startBusyWorker()).terminate();
  await sleep(50);
  const fds = fdCount();
  const threads = threadCount();
  for (let i = 0; i < WORKERS; i++) {
    const worker = await startBusyWorker();
    await sleep(10);
    const started = performance.now();
    await worker.terminate();
    t.ok(performance.now() - started < 2000, `worker ${i} ended promptly`);
  }
  await sleep(50);
  t.equal(fdCount(), fds, 'fds');
  t.equal(threadCount(), threads, 'threads');
});
