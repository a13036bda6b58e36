// lib/kvm/realtime.ts: the calling thread becomes SCHED_FIFO and ordinary again; wrong arguments throw;
// without CAP_SYS_NICE it is a KvmError EPERM, which the port's Unpreempted takes as "run ordinary".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import t from 'tap';

import { setThreadRealtime } from '../lib/kvm';
import { native } from '../lib/kvm/native';
import { Unpreempted } from '../selftests/lib/unpreempted';

/** The calling thread's scheduling policy (0 SCHED_OTHER, 1 SCHED_FIFO), field 41 of its stat. */
function policy(): number {
  const stat = fs.readFileSync('/proc/thread-self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

t.test('SCHED_FIFO and back, on the calling thread', async (t) => {
  t.equal(policy(), 0, 'ordinary to begin with');
  setThreadRealtime(true);
  t.equal(policy(), 1, 'SCHED_FIFO');
  setThreadRealtime(false);
  t.equal(policy(), 0, 'ordinary again');
  const logged: string[] = [];
  const stretch = new Unpreempted((message) => logged.push(message));
  stretch.begin();
  t.equal(policy(), 1, 'a stretch begun');
  stretch.end();
  stretch.end();
  t.equal(policy(), 0, 'ended (twice is once)');
  t.same(logged, []);
});

t.test('wrong arguments throw, in the library and in the addon', async (t) => {
  for (const value of [1, 'true', undefined, null, {}]) {
    t.throws(() => setThreadRealtime(value as boolean), TypeError, `library: ${String(value)}`);
    t.throws(() => native.setThreadRealtime(value as boolean), { code: 'ERR_INVALID_ARG_TYPE' }, `addon: ${String(value)}`);
  }
  t.equal(policy(), 0, 'still ordinary');
});

t.test('without CAP_SYS_NICE: EPERM from the library, a log line and an ordinary stretch from Unpreempted', async (t) => {
  const script = `
    const { setThreadRealtime } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'kvm'))});
    const { Unpreempted } = require(${JSON.stringify(path.join(__dirname, '..', 'selftests', 'lib', 'unpreempted'))});
    let code = 'none';
    try { setThreadRealtime(true); } catch (error) { code = error.name + ' ' + error.code + ' ' + error.syscall; }
    const logged = [];
    const stretch = new Unpreempted((message) => logged.push(message));
    stretch.begin();
    stretch.end();
    console.log(JSON.stringify({ code, logged }));`;
  // The same user, without CAP_SYS_NICE in its bounding set (so also after exec as root), and
  // RLIMIT_RTPRIO 0, the default: no real-time priority at all.
  const child = spawnSync('setpriv', ['--bounding-set=-sys_nice', 'prlimit', '--rtprio=0', process.execPath, '-e', script], { encoding: 'utf8' });
  t.equal(child.status, 0, `the child ran (stderr: ${child.stderr})`);
  const { code, logged } = JSON.parse(child.stdout) as { code: string; logged: string[] };
  t.equal(code, 'KvmError EPERM sched_setscheduler');
  t.match(logged, [/no CAP_SYS_NICE/]);
});
