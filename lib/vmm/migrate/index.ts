// lib/vmm/migrate: live migration of a LinuxMachine into a fresh VM in the same process.
export { migrate, type Migration, type MigrationReport, type MigrateOptions } from './migrate';
export type { PrecopyRound } from './precopy';
