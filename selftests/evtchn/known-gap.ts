// The kernel gap the event-channel set-up and migration tests report: a VMM that (re)creates a port's
// delivery path does not get the port's index bits back in vcpu_info, so an event pending across a
// migration stays unseen. Upstream has not fixed it (6.12 included); kernel/ holds a fix.
export const KNOWN_GAP = 'kernel does not restore pending event-channel index bits on set-up';
