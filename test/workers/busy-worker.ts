// A worker for workers.test.ts: leaves a guest spinning in an async run and a racing ioctl thread going,
// tells its parent, and waits to be terminated. Nothing is closed: the addon's environment clean-up
// must end it all.
import { parentPort } from 'node:worker_threads';

import { GuestMachine } from '../../lib/guest';
import { Kvm } from '../../lib/kvm';

const SPIN_SCENARIO = 8n;

const kvm = Kvm.open();
const spinning = GuestMachine.create(kvm, { program: 'basics' });
spinning.memory.write64(spinning.symbol('scenario'), SPIN_SCENARIO);
void spinning.vcpu.runAsync();
const racing = GuestMachine.create(kvm, { program: 'basics' });
racing.vm.repeatIoctls([{ request: 'KVM_GET_CLOCK', arg: new Uint8Array(48), stopPoint: true }]);
parentPort?.postMessage('running');
